#!/usr/bin/env bash
# Benchmark: `strangler proxy` against nginx (Debian's package, one worker)
# as reverse proxies in front of the same fast upstream, on loopback, with
# wrk (keep-alive, tiny responses, logs off). Five cases, as in issues 5
# and 16:
#   a  one route (live)            nginx: one location
#   b  1,000 routes in the plan    nginx: 1,000 locations
#   c  a 10% canary                nginx: split_clients 10%
#   d  shadow on all traffic, a small JSON answer, diffs off
#                                  nginx: mirror
#   e  the same with response diffs (JSON compared, 10% noise copies)
#                                  nginx: mirror (nginx cannot diff)
#   f  case a with an HS256 JWT verified on every request (cached key)
#                                  nginx: case a (open-source nginx has no
#                                  auth_jwt; the ratio to f/a is the cost)
# It prints requests/s and p99 latency for both and the ratios proxy/nginx.
#
#   strangler-proxy/bench/run.sh            # builds the release binary if needed
#   DURATION=20s CONNS=64 strangler-proxy/bench/run.sh
#   PERF=1 CASES=a strangler-proxy/bench/run.sh   # a perf profile of case a
#   CASES="a c" strangler-proxy/bench/run.sh      # some cases only
#   ROUNDS=5 strangler-proxy/bench/run.sh         # more alternating rounds
#
# Each case runs ROUNDS times (default 3), strangler and nginx back to back,
# so a noisy neighbour hits both alike; the table shows the medians and the
# spread (min-max) of the per-round ratios, the shadow cost (1 - d/a of
# strangler's throughput), the diff cost (1 - e/d) and the JWT cost
# (1 - f/a) per round. The binary comes from
# $CARGO_TARGET_DIR (default: the workspace's target/), built if missing.
#
# The machine has few cores, so the proxy under test (strangler or nginx) is
# pinned to one CPU and wrk plus the upstream to the others (taskset), and
# both proxies get exactly one worker thread.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
WRK_THREADS=${WRK_THREADS:-2}
ROUNDS=${ROUNDS:-3}
BIN=${BIN:-${CARGO_TARGET_DIR:-$root/target}/release/strangler}
UPSTREAM_PORT=${UPSTREAM_PORT:-18080}
PROXY_PORT=${PROXY_PORT:-18000}
ADMIN_PORT=${ADMIN_PORT:-18900}
NGINX_PORT=${NGINX_PORT:-18001}

need() {
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$1" ]; then
        echo "installing $2 with apt-get" >&2
        apt-get install -y -qq "$2" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq "$2" >/dev/null; }
    fi
}
need nginx nginx
need wrk wrk
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [ ! -x "$BIN" ]; then
    (cd "$root" && cargo build --release --bin strangler)
fi

ncpu=$(nproc)
if command -v taskset >/dev/null && [ "$ncpu" -ge 2 ]; then
    PIN_PROXY="taskset -c $((ncpu - 1))"
    PIN_LOAD="taskset -c 0-$((ncpu - 2))"
else
    PIN_PROXY=""
    PIN_LOAD=""
fi

work=$(mktemp -d /tmp/strangler-bench.XXXXXX)
cleanup() {
    [ -f "$work/strangler.pid" ] && kill "$(cat "$work/strangler.pid")" 2>/dev/null || true
    for conf in "$work"/*.conf; do
        [ -f "$conf" ] && "$NGINX" -c "$conf" -p "$work" -s stop 2>/dev/null || true
    done
    sleep 0.3
    rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

nginx_conf() { # name, server block body
    mkdir -p "$work/logs-$1"
    cat > "$work/$1.conf" <<CONF
worker_processes 1;
daemon on;
pid $work/$1.pid;
error_log $work/logs-$1/error.log crit;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream backend { server 127.0.0.1:$UPSTREAM_PORT; keepalive 128; }
    $2
}
CONF
}

# The upstream: nginx answering a tiny body, kept on the load CPUs.
nginx_conf upstream "server { listen 127.0.0.1:$UPSTREAM_PORT; location / { return 200 \"ok\n\"; }
    location /api/json/ { default_type application/json; return 200 '{\"id\":7,\"name\":\"lamp\",\"price\":10,\"tags\":[\"a\",\"b\"],\"stock\":{\"shelf\":3,\"store\":12}}'; } }"
sed -i 's/worker_processes 1;/worker_processes 1;\nworker_cpu_affinity 01;/' "$work/upstream.conf"
"$NGINX" -c "$work/upstream.conf" -p "$work"
wait_port "$UPSTREAM_PORT"

proxy_loc='proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";'

plan() { # name, routes toml
    cat > "$work/$1.toml" <<TOML
version = 1
[monolith]
name = "bench"
upstream = "http://127.0.0.1:$UPSTREAM_PORT"

[[service]]
name = "svc"
upstream = "http://127.0.0.1:$UPSTREAM_PORT"
$2
TOML
}

# Case a: one route, live.
plan a '[[service.route]]
path = "/api/items/{id}"
stage = "live"'
nginx_conf nginx-a "server { listen 127.0.0.1:$NGINX_PORT; location /api/items/ { $proxy_loc } location / { $proxy_loc } }"

# Case b: 1,000 routes; the request hits one in the middle.
{
    for i in $(seq 0 999); do
        printf '[[service.route]]\npath = "/api/r%d/{id}"\nstage = "live"\n\n' "$i"
    done
} > "$work/routes-b.toml"
plan b "$(cat "$work/routes-b.toml")"
locs=$(for i in $(seq 0 999); do printf 'location /api/r%d/ { %s } ' "$i" "$proxy_loc"; done)
nginx_conf nginx-b "server { listen 127.0.0.1:$NGINX_PORT; $locs location / { $proxy_loc } }"

# Case c: a 10% canary split per request (both sides are the same upstream).
plan c '[[service.route]]
path = "/api/items/{id}"
stage = "canary"
percent = 10'
nginx_conf nginx-c "upstream canary { server 127.0.0.1:$UPSTREAM_PORT; keepalive 128; }
    split_clients \"\${request_id}\" \$side { 10% canary; * backend; }
    server { listen 127.0.0.1:$NGINX_PORT; location / { proxy_pass http://\$side; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"

# Case d: shadow every request of the route, answers not compared.
plan d '[[service.route]]
path = "/api/json/{id}"
stage = "shadow"
diff = { off = true }'
nginx_conf nginx-d "server { listen 127.0.0.1:$NGINX_PORT;
    location / { mirror /mirror; $proxy_loc }
    location = /mirror { internal; $proxy_loc } }"

# Case e: the same with response diffs (the default at shadow).
plan e '[[service.route]]
path = "/api/json/{id}"
stage = "shadow"'
cp "$work/nginx-d.conf" "$work/nginx-e.conf"
sed -i "s|$work/nginx-d.pid|$work/nginx-e.pid|; s|logs-nginx-d|logs-nginx-e|" "$work/nginx-e.conf"
mkdir -p "$work/logs-nginx-e"

# Case f: case a behind JWT verification (HS256, the key read once).
printf 'bench-secret-of-at-least-32-bytes!!' > "$work/hs256.key"
plan f '[[service.route]]
path = "/api/items/{id}"
stage = "live"
auth = { jwt = { secret_file = "hs256.key", issuer = "bench", audience = "api" } }'
cp "$work/nginx-a.conf" "$work/nginx-f.conf"
sed -i "s|$work/nginx-a.pid|$work/nginx-f.pid|; s|logs-nginx-a|logs-nginx-f|" "$work/nginx-f.conf"
mkdir -p "$work/logs-nginx-f"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
jwt_head=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
jwt_body=$(printf '{"sub":"bench","iss":"bench","aud":"api","exp":%d}' "$(($(date +%s) + 86400))" | b64url)
jwt_sig=$(printf '%s.%s' "$jwt_head" "$jwt_body" | openssl dgst -sha256 -hmac 'bench-secret-of-at-least-32-bytes!!' -binary | b64url)
JWT="$jwt_head.$jwt_body.$jwt_sig"

path_for() { case $1 in b) echo /api/r500/7 ;; d | e) echo /api/json/7 ;; *) echo /api/items/7 ;; esac; }

# wrk → "rps p99_ms"
cpu_ticks() { # pid -> user + system clock ticks of the whole process
    awk '{print $14 + $15}' "/proc/$1/stat"
}

bench() { # url, pid of the proxy under test [, header] -> "rps p99_ms cpu_us_per_request"
    local out before after
    local header=()
    [ -n "${3:-}" ] && header=(-H "$3")
    before=$(cpu_ticks "$2")
    out=$($PIN_LOAD wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" --latency "${header[@]}" "$1")
    after=$(cpu_ticks "$2")
    local rps p99 errors requests cpu
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
    [ -n "$errors" ] && echo "  wrk: $errors" >&2
    # p99 in ms whatever unit wrk printed.
    p99=$(awk -v v="$p99" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else print v }')
    # CPU time the proxy spent per request: steadier than requests/s when
    # other work shares the machine.
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu=$(awk -v t="$((after - before))" -v n="$requests" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.1f", (n > 0) ? (t / hz * 1e6 / n) : 0 }')
    echo "$rps $p99 $cpu"
}

run_strangler() { # case, url path, round -> "rps p99 cpu"
    RUST_LOG=off $PIN_PROXY "$BIN" -q proxy --plan "$work/$1.toml" --listen "127.0.0.1:$PROXY_PORT" \
        --admin "127.0.0.1:$ADMIN_PORT" --threads 1 --no-watch --health-interval 0 \
        --upgrade-sock "$work/upgrade.sock" &
    local spid=$! perfpid=""
    echo "$spid" > "$work/strangler.pid"
    wait_port "$PROXY_PORT"
    # Warm up the upstream connection pool, then measure.
    local auth=""
    [ "$1" = f ] && auth="Authorization: Bearer $JWT"
    $PIN_LOAD wrk -t1 -c"$CONNS" -d1s ${auth:+-H "$auth"} "http://127.0.0.1:$PROXY_PORT$2" >/dev/null
    if [ -n "$auth" ] && command -v curl >/dev/null; then
        # The token is accepted (a 401 here would make the case measure refusals).
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "http://127.0.0.1:$PROXY_PORT$2")
        [ "$code" = 200 ] || echo "  case f: the token got $code" >&2
    fi
    if [ "${PERF:-0}" = 1 ] && [ "$1" = a ] && [ "$3" = 1 ] && command -v perf >/dev/null; then
        perf record -F 999 -g -o "$work/perf.data" -p "$spid" -- sleep 5 >/dev/null 2>&1 &
        perfpid=$!
    fi
    bench "http://127.0.0.1:$PROXY_PORT$2" "$spid" "$auth"
    if [ -n "$perfpid" ]; then
        wait "$perfpid" || true
        {
            echo "== perf: strangler proxy, case a (self time by DSO, then by symbol) =="
            perf report -i "$work/perf.data" --no-children -g none --sort dso --stdio 2>/dev/null \
                | grep -v '^#' | grep '%' | head -8
            perf report -i "$work/perf.data" --no-children -g none --sort symbol --percent-limit 1 --stdio 2>/dev/null \
                | grep -v '^#' | grep '%' | cut -c1-110 | head -30
        } >&2
    fi
    if { [ "$1" = d ] || [ "$1" = e ]; } && command -v curl >/dev/null; then
        # The copies really went out, and were compared: outcomes by kind.
        curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" \
            | grep -E '^strangler_shadow_(requests|diffs)_total' | sed 's/^/  /' >&2 || true
    fi
    kill -INT "$spid"; wait "$spid" 2>/dev/null || true
}

run_nginx() { # case, url path -> "rps p99 cpu" (of the one worker)
    $PIN_PROXY "$NGINX" -c "$work/nginx-$1.conf" -p "$work"
    wait_port "$NGINX_PORT"
    $PIN_LOAD wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$NGINX_PORT$2" >/dev/null
    bench "http://127.0.0.1:$NGINX_PORT$2" "$(pgrep -P "$(cat "$work/nginx-$1.pid")" | head -1)"
    "$NGINX" -c "$work/nginx-$1.conf" -p "$work" -s stop
    sleep 0.5
}

# One line per case and round: "case round s_rps s_p99 n_rps n_p99 s_cpu n_cpu".
rounds_file="$work/rounds"
: > "$rounds_file"
for round in $(seq 1 "$ROUNDS"); do
    for case in ${CASES:-a b c d e f}; do
        url_path=$(path_for "$case")
        read -r s_rps s_p99 s_cpu < <(run_strangler "$case" "$url_path" "$round")
        read -r n_rps n_p99 n_cpu < <(run_nginx "$case" "$url_path")
        echo "$case $round $s_rps $s_p99 $n_rps $n_p99 $s_cpu $n_cpu" | tee -a "$rounds_file" >&2
    done
done

echo
echo "wrk -t$WRK_THREADS -c$CONNS -d$DURATION, keep-alive, loopback; one proxy worker each; $ncpu CPUs; $ROUNDS rounds"
echo "medians; ratios are strangler/nginx per round: median [min-max]"
echo "cpu: CPU microseconds the proxy process spent per request (strangler / nginx)"
printf '%-24s %11s %8s %11s %8s %20s %20s %16s\n' case "strangler/s" "p99 ms" "nginx/s" "p99 ms" "rps ratio" "p99 ratio" "cpu us/req"
awk -v rounds="$ROUNDS" '
function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function lo(list,   n, a, i, m) { n = split(list, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 < m + 0) m = a[i]; return m }
function hi(list,   n, a, i, m) { n = split(list, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 > m + 0) m = a[i]; return m }
{
    c = $1; if (!(c in seen)) { seen[c] = 1; order[++k] = c }
    sr[c] = sr[c] " " $3; sp[c] = sp[c] " " $4; nr[c] = nr[c] " " $5; np[c] = np[c] " " $6
    rr[c] = rr[c] " " ($3 / $5); pr[c] = pr[c] " " ($4 / $6)
    sc[c] = sc[c] " " $7; nc[c] = nc[c] " " $8
    rps[c, $2] = $3; cpu[c, $2] = $7
}
END {
    name["a"] = "a one route"; name["b"] = "b 1,000 routes"; name["c"] = "c 10% canary"; name["d"] = "d shadow all (mirror)"; name["e"] = "e shadow + diff (mirror)"; name["f"] = "f JWT (nginx: none)"
    for (i = 1; i <= k; i++) {
        c = order[i]
        printf "%-24s %11.0f %8.3f %11.0f %8.3f %6.2f [%.2f-%.2f] %6.2f [%.2f-%.2f] %7.1f / %5.1f\n", name[c], median(sr[c]), median(sp[c]), median(nr[c]), median(np[c]), median(rr[c]), lo(rr[c]), hi(rr[c]), median(pr[c]), lo(pr[c]), hi(pr[c]), median(sc[c]), median(nc[c])
    }
    if (("a" in seen) && ("d" in seen)) {
        cost = ""
        for (r = 1; r <= rounds; r++) if ((("a", r) in rps) && (("d", r) in rps)) cost = cost " " (1 - rps["d", r] / rps["a", r])
        if (cost != "") printf "shadow cost (1 - d/a, strangler): median %.0f%% [%.0f%%-%.0f%%] (goal: at most 10%%)\n", 100 * median(cost), 100 * lo(cost), 100 * hi(cost)
        extra = ""
        for (r = 1; r <= rounds; r++) if ((("a", r) in cpu) && (("d", r) in cpu) && cpu["a", r] > 0) extra = extra " " (cpu["d", r] / cpu["a", r] - 1)
        if (extra != "") printf "shadow CPU per request (d/a - 1, strangler): median +%.0f%% [%.0f%%-%.0f%%]\n", 100 * median(extra), 100 * lo(extra), 100 * hi(extra)
    }
    if (("d" in seen) && ("e" in seen)) {
        cost = ""
        for (r = 1; r <= rounds; r++) if ((("d", r) in rps) && (("e", r) in rps)) cost = cost " " (1 - rps["e", r] / rps["d", r])
        if (cost != "") printf "diff cost (1 - e/d, strangler): median %.0f%% [%.0f%%-%.0f%%] (goal: at most 10%%)\n", 100 * median(cost), 100 * lo(cost), 100 * hi(cost)
        extra = ""
        for (r = 1; r <= rounds; r++) if ((("d", r) in cpu) && (("e", r) in cpu) && cpu["d", r] > 0) extra = extra " " (cpu["e", r] / cpu["d", r] - 1)
        if (extra != "") printf "diff CPU per request (e/d - 1, strangler): median +%.0f%% [%.0f%%-%.0f%%]\n", 100 * median(extra), 100 * lo(extra), 100 * hi(extra)
    }
    if (("a" in seen) && ("f" in seen)) {
        cost = ""
        for (r = 1; r <= rounds; r++) if ((("a", r) in rps) && (("f", r) in rps)) cost = cost " " (1 - rps["f", r] / rps["a", r])
        if (cost != "") printf "JWT cost (1 - f/a, strangler): median %.0f%% [%.0f%%-%.0f%%]\n", 100 * median(cost), 100 * lo(cost), 100 * hi(cost)
        extra = ""
        for (r = 1; r <= rounds; r++) if ((("a", r) in cpu) && (("f", r) in cpu) && cpu["a", r] > 0) extra = extra " " (cpu["f", r] / cpu["a", r] - 1)
        if (extra != "") printf "JWT CPU per request (f/a - 1, strangler): median +%.0f%% [%.0f%%-%.0f%%]\n", 100 * median(extra), 100 * lo(extra), 100 * hi(extra)
    }
}' "$rounds_file"
