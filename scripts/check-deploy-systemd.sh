#!/usr/bin/env bash
# Checks the systemd units in deploy/systemd/ with systemd-analyze, offline
# (no running systemd needed, so it works in a container as root):
#   - `verify` must print nothing: no unknown or misspelt setting, no bad
#     specifier, every Exec*= command executable, every Documentation=
#     man page found (they are the ones `strangler man` generates);
#   - `security --offline` must rate each unit's exposure at most 2.0
#     (0 is locked down, 10 unprotected; the units rate 1.4), so a hardening
#     option dropped by mistake fails here;
#   - the proxy, run under strace (start, a request, a stage change written
#     back to the plan, SIGHUP, SIGTERM), must make no system call outside
#     its unit's SystemCallFilter=. (The sync's calls are not traced: that
#     needs PostgreSQL; it uses the same runtime, file and socket calls.)
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
command -v strace >/dev/null || fail "strace is missing: apt-get install strace"
command -v curl >/dev/null || fail "curl is missing: apt-get install curl"

cargo build -q -p strangler --locked
target=${CARGO_TARGET_DIR:-target}
bin=$(cd "$target" && pwd)/debug/strangler

work=$(mktemp -d)
tracer=
cleanup() {
    # The traced proxy, if a check failed while it ran.
    if [ -n "$tracer" ] && kill -0 "$tracer" 2>/dev/null; then
        pkill -TERM -P "$tracer" 2>/dev/null || true
        wait "$tracer" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
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

# The system call filter, against what the proxy really calls: run it under
# strace through a start, a proxied request, a stage change through the
# admin API (written back to the plan by rename), SIGHUP and SIGTERM, and
# fail on a call outside the unit's SystemCallFilter= (the unit answers those
# with EPERM, which would break the proxy only in production).

# Every call in a set (@group or name), groups expanded.
expand() {
    local item
    for item in "$@"; do
        case $item in
            @*)
                # shellcheck disable=SC2046
                expand $(systemd-analyze syscall-filter --no-pager "$item" |
                    sed -e '1d' -e 's/^ *//' -e '/^#/d' -e '/^$/d')
                ;;
            *) echo "$item" ;;
        esac
    done
}
allowed=$work/allowed
: >"$allowed.yes"
: >"$allowed.no"
while IFS= read -r filter; do
    case $filter in
        '~'*) read -ra sets <<<"${filter#\~}"; expand "${sets[@]}" >>"$allowed.no" ;;
        *) read -ra sets <<<"$filter"; expand "${sets[@]}" >>"$allowed.yes" ;;
    esac
done < <(sed -n 's/^SystemCallFilter=//p' deploy/systemd/strangler-proxy.service)
sort -u "$allowed.no" -o "$allowed.no"
sort -u "$allowed.yes" | comm -23 - "$allowed.no" >"$allowed"

cp fixtures/shop-monolith/strangler.toml "$work/strangler.toml"
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/admin.token")
port=$((20000 + RANDOM % 20000))
STRANGLER_ADMIN_TOKEN_FILE=$work/admin.token strace -f -qq -c -o "$work/syscalls" \
    "$bin" proxy --plan "$work/strangler.toml" --listen "127.0.0.1:$port" \
    --admin "127.0.0.1:$((port + 1))" --upgrade-sock "$work/upgrade.sock" \
    --health-interval 0 2>"$work/proxy.log" &
tracer=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$((port + 1))/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
pid=$(pgrep -P "$tracer" -x strangler) || {
    cat "$work/proxy.log" >&2
    fail "the proxy did not start under strace"
}
curl -s -o /dev/null "http://127.0.0.1:$port/api/catalog/products" || true
curl -sf -o /dev/null -XPOST "http://127.0.0.1:$((port + 1))/routes/stage" \
    -H "authorization: Bearer $(cat "$work/admin.token")" -H 'content-type: application/json' \
    -d '{"service":"reviews","route":"/api/reviews/products/{product_id}","stage":"canary","percent":10}' ||
    fail "the stage change through the admin API failed"
grep -q 'stage = "canary"' "$work/strangler.toml" || fail "the stage change was not written back"
kill -HUP "$pid"
sleep 0.5
kill -TERM "$pid"
wait "$tracer" || fail "the proxy did not stop cleanly on SIGTERM (exit $?)"
awk 'NF >= 5 && $1 ~ /^[0-9.]+$/ && $NF != "total" { print $NF }' "$work/syscalls" | sort -u >"$work/used"
[ -s "$work/used" ] || fail "strace recorded no system calls"
outside=$(comm -23 "$work/used" "$allowed")
[ -z "$outside" ] ||
    fail "the proxy calls what strangler-proxy.service's SystemCallFilter= refuses: $outside"
echo "SystemCallFilter=: the proxy's $(wc -l <"$work/used") system calls are all allowed"
