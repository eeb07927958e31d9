#!/usr/bin/env bash
# Checks the observability files under deploy/:
#   - deploy/prometheus/strangler-rules.yml with `promtool check rules`, and
#     its unit tests (strangler-rules.test.yml) with `promtool test rules`;
#   - deploy/grafana/strangler.json parses as JSON and looks like a dashboard;
#   - lists every strangler_* metric name the dashboard and the rules use
#     (to stdout, and to the file given with --list FILE), and checks each is
#     defined in strangler-proxy/src/metrics.rs or data-sync/src/metrics.rs.
# That the running binaries really export them is tests/observability.rs
# (cargo test -p strangler --test observability), which reads the same files.
# Needs promtool (Debian: apt-get install prometheus) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

rules=deploy/prometheus/strangler-rules.yml
rules_test=deploy/prometheus/strangler-rules.test.yml
dashboard=deploy/grafana/strangler.json
list=

while [ $# -gt 0 ]; do
    case "$1" in
        --list) list=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--list FILE]" >&2; exit 2 ;;
    esac
done

command -v promtool >/dev/null || {
    echo "promtool is missing (Debian: apt-get install prometheus)" >&2
    exit 2
}

echo "--> promtool check rules $rules"
promtool check rules "$rules"
echo "--> promtool test rules $rules_test"
(cd "$(dirname "$rules_test")" && promtool test rules "$(basename "$rules_test")")

echo "--> $dashboard parses"
python3 -m json.tool "$dashboard" >/dev/null

# The metric names: every strangler_[a-z0-9_]+ in any string of the
# dashboard, and in the rules outside comment lines (tests/observability.rs
# reads them the same way). Recording rules (strangler:...) are the rules'
# own names, not exported ones.
names=$(python3 - "$dashboard" "$rules" <<'EOF'
import json, re, sys

dashboard, rules = sys.argv[1], sys.argv[2]
NAME = re.compile(r"\bstrangler_[a-z0-9_]+\b")

def strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node

with open(dashboard) as f:
    d = json.load(f)
problems = []
if not isinstance(d.get("panels"), list) or not d["panels"]:
    problems.append(f"{dashboard}: no panels")
if not isinstance(d.get("schemaVersion"), int):
    problems.append(f"{dashboard}: no schemaVersion")
for p in d.get("panels", []):
    if p.get("type") not in ("row", "text") and not p.get("targets"):
        problems.append(f"{dashboard}: panel {p.get('title')!r} has no queries")
    for t in p.get("targets", []):
        if not t.get("expr"):
            problems.append(f"{dashboard}: panel {p.get('title')!r} has a target without expr")
used = set()
for s in strings(d):
    used.update(NAME.findall(s))
with open(rules) as f:
    for line in f:
        if not line.lstrip().startswith("#"):
            used.update(NAME.findall(line))
if problems:
    sys.exit("\n".join(problems))
print("\n".join(sorted(used)))
EOF
)

[ -n "$names" ] || { echo "no strangler_* metric names found" >&2; exit 1; }
echo "--> metric names used by the dashboard and the rules"
echo "$names"
if [ -n "$list" ]; then
    printf '%s\n' "$names" >"$list"
fi

# Each name, less a histogram's _bucket/_sum/_count, is defined in one of the
# two metrics.rs files (a fast check; the test checks the running binaries).
missing=0
for name in $names; do
    base=$(printf '%s' "$name" | sed -E 's/_(bucket|sum|count)$//')
    if ! grep -q "\"$base\"" strangler-proxy/src/metrics.rs data-sync/src/metrics.rs; then
        echo "not defined in any metrics.rs: $name" >&2
        missing=1
    fi
done
[ "$missing" = 0 ] || exit 1
echo "--> ok: $(printf '%s\n' "$names" | wc -l) metric names, all defined"
