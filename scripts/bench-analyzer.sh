#!/usr/bin/env bash
# The analyzer benchmark: the analyzer's wall time and peak memory as ratios
# to the floor (syn + sqlparser on the same files, in parallel, nothing else),
# at 1x, 2x and 4x the corpus. See analyzer/BENCH.md.
#
#   scripts/bench-analyzer.sh [--runs N] [--scales "1 2 4"] [--no-build] [--no-threads] [--no-scores]
#   scripts/bench-analyzer.sh --java [--copies N] [--runs N] [--scales "1 2 4"] [--no-build]
#
# Builds `target/release/examples/bench` (once), gathers the corpus with
# scripts/gather-corpus.sh if target/bench-corpus is missing, warms the file
# cache, then per scale runs each mode (parse, analyze, and parse-keep for
# the memory syn's trees alone take) N times (default 5), each in a fresh
# process, and reports the medians. Unless --no-threads, it also times
# parse and analyze on one thread at the smallest scale. Unless --no-scores,
# it ends with scripts/score-corpus.sh: MoJoFM, ARI and route recall on the
# development corpus (../shared/corpus, or $CORPUS).
#
# With --java it benchmarks the Java front end instead: 1x is N copies
# (default 50) of each Java fixture (java-petclinic, java-jpetstore) in a temporary
# directory, each copy's root package renamed (…petclinic → …petclinic.c<k>)
# so the copies are distinct code, under one root pom.xml; 2x and 4x are
# 2N and 4N copies. Per scale it runs parse-java (tree-sitter-java +
# sqlparser, nothing else) and analyze, and prints the time ratios.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
runs=5
scales="1 2 4"
build=1
threads_compare=1
scores=1
java=0
copies=50
while (($#)); do
    case $1 in
    --java) java=1; shift ;;
    --copies) copies=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --scales) scales=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --no-threads) threads_compare=0; shift ;;
    --no-scores) scores=0; shift ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bench-analyzer: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done

cd "$repo"
corpus=$repo/target/bench-corpus
bin=$repo/target/release/examples/bench
if ((build)); then
    cargo build --release -p strangler-analyzer --example bench >&2
fi
[[ -x $bin ]] || { echo "bench-analyzer: $bin missing; run without --no-build" >&2; exit 2; }
if ((java)); then
    # The Java corpus: the largest scale's copies, hard-linked into the
    # smaller ones.
    corpus=$(mktemp -d "${TMPDIR:-/tmp}/bench-java.XXXXXX")
    trap 'rm -rf "$corpus"' EXIT
    declare -A root_package=(
        [java-petclinic]=org.springframework.samples.petclinic
        [java-jpetstore]=org.example.jpetstore
    )
    max=0
    for s in $scales; do ((s > max)) && max=$s; done
    all=$corpus/all
    mkdir -p "$all"
    for ((k = 1; k <= copies * max; k++)); do
        for f in "${!root_package[@]}"; do
            dest=$all/c$k-$f
            cp -r "fixtures/$f" "$dest"
            pkg=${root_package[$f]}
            grep -rlF "$pkg" "$dest" | xargs -r sed -i "s/${pkg//./\\.}\\b/&.c$k/g"
        done
    done
    for s in $scales; do
        mkdir -p "$corpus/x$s"
        modules=""
        for ((k = 1; k <= copies * s; k++)); do
            for f in "${!root_package[@]}"; do
                cp -al "$all/c$k-$f" "$corpus/x$s/"
                modules+="    <module>c$k-$f</module>"$'\n'
            done
        done
        printf '<project>\n  <modules>\n%s  </modules>\n</project>\n' "$modules" >"$corpus/x$s/pom.xml"
    done
    rm -rf "$all"
elif [[ ! -d $corpus/x4 ]]; then
    scripts/gather-corpus.sh "$corpus" >&2
fi

# value KEY LINE -> the value of key=value in LINE
value() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# CPU busy percent over the next second, from /proc/stat.
busy() {
    local a b
    a=$(awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); w = y[1] - x[1]; i = y[2] - x[2]; printf "%d", (w + i > 0) ? 100 * w / (w + i) : 0 }'
}

# Waits (up to 2 minutes) until other processes leave the CPUs alone: on a
# 2-core machine one test suite running alongside doubles every time.
quiet() {
    local b
    for ((t = 0; t < 120; t += 5)); do
        b=$(busy)
        ((b < 10)) && return 0
        ((t == 0)) && echo "waiting for the CPUs to be idle (${b}% busy)..." >&2
        sleep 4
    done
    echo "warning: CPUs still ${b}% busy by other processes; figures will be inflated" >&2
    noisy=1
}
noisy=0

warm() {
    find "$1" -type f -print0 | xargs -0 cat >/dev/null
}

# measure SCALE MODE [THREADS] -> "secs_median peak_mb_median last_line"
measure() {
    local dir=$corpus/x$1 mode=$2 threads=${3:-} secs=() peaks=() line
    local extra=()
    [[ -n $threads ]] && extra=(--threads "$threads")
    for ((i = 0; i < runs; i++)); do
        line=$("$bin" --mode "$mode" "${extra[@]}" "$dir")
        secs+=("$(value secs "$line")")
        peaks+=("$(value peak_kb "$line")")
    done
    printf '%s %s %s\n' \
        "$(printf '%s\n' "${secs[@]}" | median)" \
        "$(printf '%s\n' "${peaks[@]}" | median | awk '{ printf "%.0f", $1 / 1024 }')" \
        "$line"
}

if ((java)); then
    echo "analyzer benchmark, Java: $(nproc) cores, $runs runs per mode, median; $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet -- analyzer/src 2>/dev/null || echo ' + uncommitted analyzer/src changes')"
    echo "1x = $copies copies of each of: ${!root_package[*]}"
    echo
    declare -A ptime atime lines
    rows=()
    for s in $scales; do
        warm "$corpus/x$s"
        "$bin" --mode parse-java "$corpus/x$s" >/dev/null
        "$bin" --mode analyze "$corpus/x$s" >/dev/null
        quiet
        read -r pt pm pline < <(measure "$s" parse-java)
        quiet
        read -r at am aline < <(measure "$s" analyze)
        ptime[$s]=$pt atime[$s]=$at
        lines[$s]=$(value java_lines "$pline")
        # The floor and the analyzer must see the same Java files.
        if [[ $(value java_files "$pline") != "$(value java_files "$aline")" ]]; then
            echo "warning: x$s: parse-java read $(value java_files "$pline") .java files, the analyzer $(value java_files "$aline")" >&2
        fi
        rows+=("$(awk -v s="$s" -v c="$((copies * s))" -v jl="${lines[$s]}" -v jf="$(value java_files "$pline")" \
            -v sf="$(value sql_files "$pline")" -v pt="$pt" -v at="$at" -v pm="$pm" -v am="$am" 'BEGIN {
            printf "| %sx | %d | %d | %d | %d | %.3f | %.3f | %.2f | %d | %d |", s, c, jf, jl, sf, pt, at, at / pt, pm, am
        }')")
        echo "x$s analyze: $aline" >&2
    done
    echo "| scale | copies of each fixture | .java files | .java lines | .sql files | parse-java s | analyze s | time ratio | parse-java peak MB | analyze peak MB |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    first=${scales%% *}
    last=${scales##* }
    ratio_ok=yes
    for s in $scales; do
        awk -v a="${atime[$s]}" -v p="${ptime[$s]}" 'BEGIN { exit !(a > 2 * p) }' && ratio_ok=no
    done
    if [[ $first != "$last" ]]; then
        awk -v f="$first" -v l="$last" -v pf="${ptime[$first]}" -v pl="${ptime[$last]}" \
            -v af="${atime[$first]}" -v al="${atime[$last]}" -v lf="${lines[$first]}" -v ll="${lines[$last]}" 'BEGIN {
            pg = (pl / ll) / (pf / lf); ag = (al / ll) / (af / lf)
            printf "growth, time per .java line at %sx / %sx: parse-java %.2f, analyze %.2f (1.00 = linear)\n", l, f, pg, ag
            printf "goal: linear growth (analyze time per line at the largest scale within 1.25x of the smallest): %s\n", (ag <= 1.25) ? "yes" : "no"
        }'
    fi
    echo "goal: analyze <= 2x parse-java time at every scale: $ratio_ok"
    ((noisy)) && echo "warning: other processes were using the CPUs during some runs; rerun on an idle machine"
    exit 0
fi

echo "analyzer benchmark: $(nproc) cores, $runs runs per mode, median; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet -- analyzer/src 2>/dev/null || echo ' + uncommitted analyzer/src changes')"
echo
declare -A ptime pmem atime amem lines
rows=()
for s in $scales; do
    warm "$corpus/x$s"
    "$bin" --mode parse "$corpus/x$s" >/dev/null
    "$bin" --mode analyze "$corpus/x$s" >/dev/null
    quiet
    read -r pt pm pline < <(measure "$s" parse)
    quiet
    read -r at am aline < <(measure "$s" analyze)
    quiet
    read -r _ km _ < <(measure "$s" parse-keep)
    ptime[$s]=$pt pmem[$s]=$pm atime[$s]=$at amem[$s]=$am
    rs_lines=$(value rs_lines "$pline")
    sql_lines=$(value sql_lines "$pline")
    lines[$s]=$rs_lines
    # The floor and the analyzer must see the same Rust files.
    if [[ $(value rs_files "$pline") != "$(value rs_files "$aline")" ]]; then
        echo "warning: x$s: parse-only read $(value rs_files "$pline") .rs files, the analyzer $(value rs_files "$aline")" >&2
    fi
    rows+=("$(awk -v s="$s" -v rl="$rs_lines" -v sl="$sql_lines" -v rf="$(value rs_files "$pline")" \
        -v sf="$(value sql_files "$pline")" -v pt="$pt" -v at="$at" -v pm="$pm" -v am="$am" -v km="$km" 'BEGIN {
        printf "| %sx | %d | %d | %d | %d | %.3f | %.3f | %.2f | %d | %d | %.1f | %d |", s, rl, sl, rf, sf, pt, at, at / pt, pm, am, am / pm, km
    }')")
    echo "x$s analyze: $aline" >&2
done

echo "| scale | .rs lines | .sql lines | .rs files | .sql files | parse-only s | analyze s | time ratio | parse-only peak MB | analyze peak MB | memory ratio | syn trees kept, peak MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo

first=${scales%% *}
last=${scales##* }
if [[ $first != "$last" ]]; then
    awk -v f="$first" -v l="$last" -v pf="${ptime[$first]}" -v pl="${ptime[$last]}" \
        -v af="${atime[$first]}" -v al="${atime[$last]}" -v lf="${lines[$first]}" -v ll="${lines[$last]}" 'BEGIN {
        pg = (pl / ll) / (pf / lf); ag = (al / ll) / (af / lf)
        printf "growth, time per .rs line at %sx / %sx: parse-only %.2f, analyze %.2f (1.00 = linear)\n", l, f, pg, ag
    }'
fi

((noisy)) && echo "warning: other processes were using the CPUs during some runs; rerun on an idle machine"
ratio_ok=yes
for s in $scales; do
    awk -v a="${atime[$s]}" -v p="${ptime[$s]}" 'BEGIN { exit !(a > 2 * p) }' && ratio_ok=no
done
echo "goal: analyze <= 2x parse-only time at every scale: $ratio_ok"
if [[ $first != "$last" ]]; then
    awk -v af="${atime[$first]}" -v al="${atime[$last]}" -v lf="${lines[$first]}" -v ll="${lines[$last]}" 'BEGIN {
        g = (al / ll) / (af / lf)
        printf "goal: linear growth (time per line at the largest scale within 1.25x of the smallest): %s\n", (g <= 1.25) ? "yes" : "no"
    }'
fi
awk -v m="${amem[$first]}" -v l="${lines[$first]}" 'BEGIN {
    printf "goal: under 1 GB at ~100k lines (%d lines at the smallest scale: %d MB): %s\n", l, m, (m < 1024) ? "yes" : "no"
}'

if ((threads_compare)); then
    echo
    s=$first
    quiet
    read -r p1 pm1 _ < <(measure "$s" parse 1)
    quiet
    read -r a1 am1 _ < <(measure "$s" analyze 1)
    echo "| ${s}x, threads | parse-only s | analyze s | time ratio | analyze peak MB |"
    echo "|---|---|---|---|---|"
    awk -v n="$(nproc)" -v p="${ptime[$s]}" -v a="${atime[$s]}" -v m="${amem[$s]}" \
        'BEGIN { printf "| default (%d) | %.3f | %.3f | %.2f | %d |\n", n, p, a, a / p, m }'
    awk -v p="$p1" -v a="$a1" -v m="$am1" 'BEGIN { printf "| 1 | %.3f | %.3f | %.2f | %d |\n", p, a, a / p, m }'
    awk -v a="${atime[$s]}" -v a1="$a1" -v p="${ptime[$s]}" -v p1="$p1" \
        'BEGIN { printf "speed-up from threads: parse-only %.2fx, analyze %.2fx\n", p1 / p, a1 / a }'
fi

if ((scores)); then
    echo
    if [[ -d ${CORPUS:-$repo/../shared/corpus} ]]; then
        echo "scores on the development corpus (scripts/score-corpus.sh):"
        score_flags=()
        ((build)) || score_flags=(--no-build)
        scripts/score-corpus.sh "${score_flags[@]}" || echo "warning: scripts/score-corpus.sh failed" >&2
    else
        echo "scores on the development corpus: skipped, no corpus at ${CORPUS:-$repo/../shared/corpus}"
    fi
fi
