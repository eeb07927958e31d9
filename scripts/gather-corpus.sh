#!/usr/bin/env bash
# Gathers the analyzer benchmark's corpus: real Rust crates from the local
# cargo registry plus every .sql file on the machine, at 1x, 2x and 4x.
#
#   scripts/gather-corpus.sh [OUT]        # OUT defaults to target/bench-corpus
#
# 1x: the registry's crates (~/.cargo/registry/src/*/), one version per name
#     (the lowest, by directory name), sorted by name, taken until their
#     src/**/*.rs reach MIN_LINES (default 100000) lines; crates with more
#     than MAX_CRATE_LINES (default 50000) lines under src/ are skipped
#     (generated bindings such as windows-sys or linux-raw-sys would
#     dominate). Each crate is copied as Cargo.toml + src/**/*.rs, so the
#     analyzer sees real crates. Plus the .sql files of the registry crates,
#     of fixtures/ and of /usr/share, with their directory structure.
# 2x, 4x: 2 and 4 copies of the 1x tree, side by side (copy1/, copy2/, ...).
#     Copy 1 keeps the crate names; copy k renames each package (and [lib]
#     name) to <name>_copy<k>, so crate names differ. The content per copy is
#     identical, so any growth beyond linear comes from the analyzer, not
#     from a different mix of code.
#
# Deterministic for a given registry and machine: same crates, same files.
# The registry grows as projects fetch crates, which can change the 1x
# selection; CRATES="actix-codec-0.5.4 actix-http-3.20.0 ..." (directory
# names, as in MANIFEST.txt) takes exactly those crates instead.
# Writes OUT/x1, OUT/x2, OUT/x4 and OUT/MANIFEST.txt; OUT is replaced.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/target/bench-corpus}
min_lines=${MIN_LINES:-100000}
max_crate_lines=${MAX_CRATE_LINES:-50000}
export LC_ALL=C

registry=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ 2>/dev/null | sort | head -1)
if [[ -z $registry || ! -d $registry ]]; then
    echo "gather-corpus: no cargo registry sources under ${CARGO_HOME:-$HOME/.cargo}/registry/src; run 'cargo fetch' in a project first" >&2
    exit 2
fi

for c in ${CRATES:-}; do
    [[ -d $registry$c ]] || { echo "gather-corpus: CRATES names $c, which is not in $registry" >&2; exit 2; }
done

rm -rf "$out"
base=$out/x1
mkdir -p "$base/crates" "$base/sql"
manifest=$out/MANIFEST.txt
{
    echo "# strangler analyzer benchmark corpus"
    echo "# registry: $registry"
    echo "# min_lines=$min_lines max_crate_lines=$max_crate_lines"
    echo "# crate-dir rs-files rs-lines"
} >"$manifest"

# --- Rust crates -------------------------------------------------------------
total=0
declare -A seen=()
while IFS= read -r dir; do
    [[ $dir == "#end" ]] && break
    name=${dir%-[0-9]*}
    [[ -n ${seen[$name]:-} ]] && continue
    src=$registry$dir
    [[ -f $src/Cargo.toml && -d $src/src ]] && grep -q '^\[package\]' "$src/Cargo.toml" || continue
    files=$(cd "$src" && find src -name '*.rs' -type f | wc -l)
    ((files > 0)) || continue
    lines=$(cd "$src" && find src -name '*.rs' -type f -print0 | xargs -0 cat | wc -l)
    ((lines <= max_crate_lines)) || continue
    seen[$name]=1
    mkdir -p "$base/crates/$dir"
    cp "$src/Cargo.toml" "$base/crates/$dir/"
    (cd "$src" && find src -name '*.rs' -type f -print0 | xargs -0 cp --parents -t "$base/crates/$dir")
    total=$((total + lines))
    echo "$dir $files $lines" >>"$manifest"
    [[ -z ${CRATES:-} ]] && ((total >= min_lines)) && break
done < <(if [[ -n ${CRATES:-} ]]; then
    printf '%s\n' $CRATES "#end"
else
    ls "$registry" | sort
fi)

((total > 0)) || { echo "gather-corpus: no Rust crate with src/**/*.rs found in $registry" >&2; exit 2; }

# --- SQL ---------------------------------------------------------------------
copy_sql() { # root tag
    local root=$1 tag=$2
    [[ -d $root ]] || return 0
    (cd "$root" && find . -name '*.sql' -type f -print0 | sort -z |
        xargs -0 -r cp --parents -t "$base/sql/$tag" 2>/dev/null) || true
}
mkdir -p "$base/sql/registry" "$base/sql/fixtures" "$base/sql/usr-share"
copy_sql "$registry" registry
copy_sql "$repo/fixtures" fixtures
copy_sql /usr/share usr-share
# No .sql file may hide a .rs file outside a crate: the walk must find the
# same files the analyzer does.
sql_files=$(find "$base/sql" -name '*.sql' -type f | wc -l)
sql_lines=$(find "$base/sql" -name '*.sql' -type f -print0 | xargs -0 -r cat | wc -l)
rs_files=$(find "$base" -name '*.rs' -type f | wc -l)
crates=$(find "$base/crates" -mindepth 1 -maxdepth 1 -type d | wc -l)
{
    echo "# total: $crates crates, $rs_files .rs files, $total .rs lines; $sql_files .sql files, $sql_lines .sql lines"
} >>"$manifest"

# --- 2x and 4x -----------------------------------------------------------------
rename_packages() { # tree suffix
    find "$1" -name Cargo.toml -type f -print0 | while IFS= read -r -d '' toml; do
        # Within [package] and [lib], `name = "x"` becomes `name = "x<suffix>"`.
        awk -v suffix="$2" '
            /^\[/ { section = $0 }
            (section == "[package]" || section == "[lib]") && /^name = "/ {
                sub(/"$/, suffix "\"")
            }
            { print }
        ' "$toml" >"$toml.tmp" && mv "$toml.tmp" "$toml"
    done
}
for scale in 2 4; do
    for ((k = 1; k <= scale; k++)); do
        dest=$out/x$scale/copy$k
        mkdir -p "$dest"
        cp -r "$base/crates" "$base/sql" "$dest/"
        ((k == 1)) || rename_packages "$dest" "_copy$k"
    done
done

for scale in 1 2 4; do
    n=$(find "$out/x$scale" -name '*.rs' -type f -print0 | xargs -0 cat | wc -l)
    s=$(find "$out/x$scale" -name '*.sql' -type f | wc -l)
    echo "x$scale: $n .rs lines, $s .sql files" | tee -a "$manifest"
done
echo "corpus in $out (see $manifest)"
