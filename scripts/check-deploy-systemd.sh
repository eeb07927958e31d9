#!/usr/bin/env bash
# Checks the systemd units in deploy/systemd/ with systemd-analyze, offline
# (no running systemd needed, so it works in a container as root):
#   - `verify` must print nothing: no unknown or misspelt setting, no bad
#     specifier, every Exec*= command executable, every Documentation=
#     man page found (they are the ones `strangler man` generates);
#   - `security --offline` must rate each unit's exposure at most 2.0
#     (0 is locked down, 10 unprotected; the units rate 1.4), so a hardening
#     option dropped by mistake fails here.
# The units run /usr/local/bin/strangler, which need not exist here: they
# are checked as copies that name the binary this script builds instead;
# that path is the only difference, and the script checks the originals
# name /usr/local/bin/strangler. A template (NAME@.service) is checked
# through one instance, NAME@catalog.service.
set -euo pipefail
cd "$(dirname "$0")/.."

# In tenths, as systemd-analyze takes it: 20 is an exposure of 2.0.
THRESHOLD=20
INSTALLED=/usr/local/bin/strangler

fail() {
    printf 'check-deploy-systemd: %s\n' "$*" >&2
    exit 1
}

command -v systemd-analyze >/dev/null ||
    fail "systemd-analyze is missing: apt-get install systemd"
# verify looks the Documentation= pages up with man.
command -v man >/dev/null || fail "man is missing: apt-get install man-db"

cargo build -q -p strangler --locked
target=${CARGO_TARGET_DIR:-target}
bin=$(cd "$target" && pwd)/debug/strangler

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/units" "$work/man/man1"
"$bin" man --out "$work/man/man1" >/dev/null

units=()
for unit in deploy/systemd/*.service; do
    name=$(basename "$unit")
    grep -q "^ExecStart=$INSTALLED " "$unit" ||
        fail "$unit: ExecStart= must run $INSTALLED (deploy/README.md installs it there)"
    sed "s#$INSTALLED#$bin#g" "$unit" >"$work/units/$name"
    case $name in
        *@.service)
            instance=${name%@.service}@catalog.service
            cp "$work/units/$name" "$work/units/$instance"
            units+=("$work/units/$instance")
            ;;
        *) units+=("$work/units/$name") ;;
    esac
done
[ "${#units[@]}" -gt 0 ] || fail "no units in deploy/systemd/"

status=0
out=$(MANPATH="$work/man" SYSTEMD_COLORS=0 systemd-analyze verify --man=yes "${units[@]}" 2>&1) ||
    status=$?
if [ "$status" -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    fail "systemd-analyze verify printed the warnings above (exit $status)"
fi
echo "systemd-analyze verify: ${#units[@]} units, no warnings"

for unit in "${units[@]}"; do
    (cd "$work/units" && SYSTEMD_COLORS=0 systemd-analyze security --offline=yes \
        --threshold="$THRESHOLD" --no-pager "$(basename "$unit")" >"$work/security" 2>&1) || {
        cat "$work/security" >&2
        fail "$(basename "$unit"): exposure above 2.0 (see above)"
    }
    grep 'Overall exposure level' "$work/security"
done
