#!/usr/bin/env bash
# Renders the analyzer's HTML report for the shop fixture in headless
# Chromium, takes a screenshot, and checks that the service graph rendered:
# the DOM after load must hold the SVG with one circle per service, and the
# screenshot must not be blank. Installs Debian's chromium if it is missing.
#
#   scripts/report-screenshot.sh [OUT_DIR]     # default target/report
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/report}
mkdir -p "$out"

if ! command -v chromium >/dev/null; then
    echo "installing chromium (Debian package)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

cargo build -q --release --bin strangler
target/release/strangler analyze fixtures/shop-monolith --format html \
    --truth fixtures/shop-monolith/ground-truth.toml > "$out/report.html"
services=$(target/release/strangler analyze fixtures/shop-monolith --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["services"]))')

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --user-data-dir="$profile" --window-size=1200,1600)
url="file://$(realpath "$out/report.html")"
chromium "${flags[@]}" --screenshot="$out/report.png" "$url" 2>/dev/null
chromium "${flags[@]}" --dump-dom "$url" 2>/dev/null > "$out/dom.html"

circles=$(grep -o '<circle' "$out/dom.html" | wc -l)
png_bytes=$(stat -c %s "$out/report.png")
# A blank 1200x1600 page compresses to a few kilobytes.
colours=$(python3 - "$out/report.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, width, height = 8, b"", 0, 0
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
raw = zlib.decompress(idat)
# Distinct byte values across the first 400 scanlines is a cheap "is there
# anything drawn" measure that needs no image library.
print(len(set(raw[: (width * 4 + 1) * 400])))
PY
)
echo "report: $out/report.html; screenshot: $out/report.png ($png_bytes bytes, $colours distinct byte values)"
echo "services: $services; circles in the rendered SVG: $circles"
if [ "$circles" -ne "$services" ] || [ "$png_bytes" -lt 20000 ] || [ "$colours" -lt 32 ]; then
    echo "FAIL: the service graph did not render" >&2
    exit 1
fi
echo "ok: the report rendered with its service graph"
