#!/usr/bin/env bash
# Scores `strangler analyze` on the development corpus: for each app, the
# suggestion at default settings against its hand-made reference
# (analyzer/corpus/<app>.truth.toml), every unit of the reference counted,
# and the routes found with their full path against the hand-counted list
# (analyzer/corpus/<app>.routes.txt). See analyzer/corpus/README.md.
#
#   scripts/score-corpus.sh [--no-build] [APP...]
#
# The corpus is read from $CORPUS, by default ../shared/corpus relative to
# the repository root; SCORE_ANALYZE_ARGS adds flags to each analyze
# (`--weight co_writes=0`). Builds target/release/strangler first unless
# --no-build. Prints a Markdown table; per-app details (units missing from
# the analysis, units not in the reference) go to stderr. Needs jq.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=1
apps=()
while (($#)); do
    case $1 in
    --no-build) build=0; shift ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "score-corpus: unknown argument $1 (try --help)" >&2; exit 2 ;;
    *) apps+=("$1"); shift ;;
    esac
done
((${#apps[@]})) || apps=(zero-to-production mCaptcha svix-webhooks kellnr lldap)

cd "$repo"
corpus=${CORPUS:-../shared/corpus}
[[ -d $corpus ]] || { echo "score-corpus: no corpus at $corpus (set CORPUS)" >&2; exit 2; }
command -v jq >/dev/null || { echo "score-corpus: needs jq" >&2; exit 2; }
bin=$repo/target/release/strangler
if ((build)); then
    cargo build --release -p strangler >&2
fi
[[ -x $bin ]] || { echo "score-corpus: $bin missing; run without --no-build" >&2; exit 2; }

# unname: path templates without parameter names.
unname() { sed -e 's/{\*[^}]*}/{*}/g' -e 's/{[^}*][^}]*}/{}/g'; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "| app | units in truth | units scored | missing from analysis | MoJoFM | ARI | one-service MoJoFM | business modules in shared | routes found / listed |"
echo "|---|---|---|---|---|---|---|---|---|"
status=0
for app in "${apps[@]}"; do
    truth=analyzer/corpus/$app.truth.toml
    routes=analyzer/corpus/$app.routes.txt
    json=$tmp/$app.json
    if ! "$bin" analyze "$corpus/$app" --truth "$truth" --format json ${SCORE_ANALYZE_ARGS:-} >"$json" 2>"$tmp/$app.err"; then
        echo "score-corpus: $app: strangler analyze failed:" >&2
        cat "$tmp/$app.err" >&2
        echo "| $app | analysis failed | | | | | | | |"
        status=1
        continue
    fi
    # The routes the analysis found, one "METHOD path" per method. Both
    # sides' parameter names are dropped (`{id}` → `{}`, `{*rest}` → `{*}`):
    # they do not change which requests a template matches.
    jq -r '.nodes[] | select(.kind == "route") | .path as $p | .methods[] | "\(.) \($p)"' \
        "$json" | unname | LC_ALL=C sort -u >"$tmp/$app.found"
    # A listed route is found when a route node has its full path and its
    # method, or `*` (any method) on either side.
    listed=0 found=0
    while read -r method path; do
        [[ -z $method ]] && continue
        listed=$((listed + 1))
        if awk -v m="$method" -v p="$path" '
            $2 == p && ($1 == m || $1 == "*" || m == "*") { hit = 1; exit }
            END { exit !hit }' "$tmp/$app.found"; then
            found=$((found + 1))
        fi
    done < <(unname <"$routes")
    jq -r '.comparison | [.truth_units, .scored, (.missing | length), .mojofm, .ari,
        .baseline_mojofm, .business_modules_shared, .business_modules] | @tsv' "$json" |
        awk -F '\t' -v app="$app" -v found="$found" -v listed="$listed" '
            function pct(a, b) { return b ? sprintf("%.1f %%", 100 * a / b) : "-" }
            { printf "| %s | %d | %d | %d | %.1f | %.3f | %.1f | %d of %d (%s) | %d / %d (%s) |\n",
                app, $1, $2, $3, $4, $5, $6, $7, $8, pct($7, $8), found, listed, pct(found, listed) }'
    jq -r --arg app "$app" '
        .comparison as $c
        | "\($app): \($c.missing | length) units of the reference not in the analysis\(if ($c.missing | length) > 0 then ": " + ($c.missing | join(", ")) else "" end); \($c.unlabelled | length) units of the analysis not in the reference (not scored); \(.services | length) services, \(.shared | length) shared"
    ' "$json" >&2
    # Honest scores: every unit of the reference must be in the score.
    if ! jq -e '.comparison.scored == .comparison.truth_units' "$json" >/dev/null; then
        echo "score-corpus: $app: not every unit of the reference was scored" >&2
        status=1
    fi
done
exit $status
