#!/usr/bin/env bash
# Benchmark: strangler sync against native logical replication and pg_dump | psql.
#
#   data-sync/bench/run.sh [SCALE]        # default 50 (5M pgbench_accounts rows)
#
# Starts two throwaway PostgreSQL clusters (as the `postgres` user when run
# as root), loads pgbench data at SCALE on the monolith, and measures:
#   1. initial load: `strangler sync run` until every table is copied, vs
#      `CREATE SUBSCRIPTION` until its tables are ready, vs `pg_dump | psql`;
#   2. catch-up after one UPDATE of a fifth of the accounts (1M rows at
#      scale 50): seconds from commit until the service has it, both ways;
#   3. lag under `pgbench -N -R ${LAG_RATE:-1000}` (rate-limited: 2 cores run both
#      servers, pgbench and the sync) for 30 s: the sync's lag sampled every 100 ms
#      (p50/p99/max of monolith LSN minus applied LSN, converted to time by
#      sampling when the applied LSN passes each sampled monolith LSN).
# Prints times and the ratios. Needs: PostgreSQL server binaries, pgbench,
# pg_dump, psql, and a release build of `strangler` (built here, into
# CARGO_TARGET_DIR when set). LOAD_ONLY=1 measures the initial load only;
# SYNC_LOG=FILE keeps the sync's log (at debug level: copy and index times).
set -euo pipefail
SCALE=${1:-50}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${STRANGLER_PG_BINDIR:-$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
WORK=$(mktemp -d /tmp/strangler-bench.XXXXXX)
chmod 755 "$WORK"
AS=()
if [ "$(id -u)" = 0 ]; then chown postgres "$WORK"; AS=(runuser -u postgres --); fi
BASE=${BENCH_PORT:-15432} # three ports from here, below the ephemeral range (busy clients leave
                          # TIME_WAIT sockets there that block a listener); BENCH_PORT to move them
SRC_PORT=$BASE; DST_PORT=$((BASE + 1)); NAT_PORT=$((BASE + 2))
cleanup() {
  for d in src dst nat; do "${AS[@]}" "$BIN/pg_ctl" -D "$WORK/$d" -m immediate stop >/dev/null 2>&1 || true; done
  [ -n "${SYNC_PID:-}" ] && kill "$SYNC_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
start() { # dir port
  "${AS[@]}" "$BIN/initdb" -D "$WORK/$1" -U postgres --auth=trust >/dev/null
  "${AS[@]}" "$BIN/pg_ctl" -D "$WORK/$1" -l "$WORK/$1.log" -w start -o "-p $2 -c wal_level=logical \
    -c max_wal_size=4GB -c fsync=off -c full_page_writes=off -c synchronous_commit=on \
    -c autovacuum=off -c shared_buffers=512MB -c max_replication_slots=16 -c max_wal_senders=16 \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories=$WORK" >/dev/null \
    || { tail -5 "$WORK/$1.log" >&2; exit 1; }
}
psql_() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres "$@"; }
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

cargo build --release -q --manifest-path "$ROOT/Cargo.toml" --bin strangler
STRANGLER="${CARGO_TARGET_DIR:-$ROOT/target}/release/strangler"
start src $SRC_PORT; start dst $DST_PORT; start nat $NAT_PORT
for p in $DST_PORT $NAT_PORT; do psql_ -p $p -d postgres -c "CREATE DATABASE svc"; done
echo "loading pgbench scale $SCALE ..."
"$BIN/pgbench" -q -i -s "$SCALE" -h 127.0.0.1 -p $SRC_PORT -U postgres postgres >/dev/null 2>&1
ROWS=$(psql_ -p $SRC_PORT -d postgres -Atc "SELECT count(*) FROM pgbench_accounts")
cat > "$WORK/plan.toml" <<PLAN
version = 1
[monolith]
name = "bench"
upstream = "http://127.0.0.1:8080"
database = "postgres://postgres@127.0.0.1:$SRC_PORT/postgres"
[[service]]
name = "svc"
upstream = "http://127.0.0.1:9001"
database = "postgres://postgres@127.0.0.1:$DST_PORT/svc"
[[service.table]]
name = "pgbench_accounts"
stage = "syncing"
[[service.table]]
name = "pgbench_branches"
stage = "syncing"
[[service.table]]
name = "pgbench_tellers"
stage = "syncing"
PLAN

# Every timed step starts from the same state: no checkpoint of the data
# loaded so far running in the background (pgbench -i leaves about 1 GB of
# WAL behind, whose checkpoint would otherwise land on the first step).
settle() {
  for port in $SRC_PORT $DST_PORT $NAT_PORT; do psql_ -p "$port" -d postgres -qc "CHECKPOINT"; done
}

# 1a. strangler: schema (no indexes), copy, deferred key build.
"$STRANGLER" -q sync schema --plan "$WORK/plan.toml" >/dev/null
settle
T0=$(now)
if [ -n "${SYNC_LOG:-}" ]; then
  RUST_LOG=strangler_sync=debug "$STRANGLER" sync run --plan "$WORK/plan.toml" --workers 2 --metrics 127.0.0.1:59187 2>"$SYNC_LOG" &
else
  "$STRANGLER" -q sync run --plan "$WORK/plan.toml" --workers 2 --metrics 127.0.0.1:59187 &
fi
SYNC_PID=$!
until [ "$(psql_ -p $DST_PORT -d svc -Atc "SELECT count(*) FILTER (WHERE state IN ('catching_up','streaming')) FROM strangler.table_state" 2>/dev/null || echo 0)" = 3 ]; do sleep 0.1; done
T_OURS=$(secs "$T0" "$(now)")

# 1b. native: CREATE SUBSCRIPTION into an identical schema with keys.
"$BIN/pg_dump" -h 127.0.0.1 -p $SRC_PORT -U postgres -s -t 'pgbench_*' postgres | psql_ -p $NAT_PORT -d svc >/dev/null
psql_ -p $SRC_PORT -d postgres -c "CREATE PUBLICATION native FOR TABLE pgbench_accounts, pgbench_branches, pgbench_tellers"
settle
T0=$(now)
psql_ -p $NAT_PORT -d svc -c "CREATE SUBSCRIPTION native CONNECTION 'host=127.0.0.1 port=$SRC_PORT user=postgres dbname=postgres' PUBLICATION native"
until [ "$(psql_ -p $NAT_PORT -d svc -Atc "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate IN ('r','s')")" = 3 ]; do sleep 0.1; done
T_NATIVE=$(secs "$T0" "$(now)")

# 1c. pg_dump | psql into a fresh database.
psql_ -p $NAT_PORT -d postgres -c "CREATE DATABASE dump"
settle
T0=$(now)
"$BIN/pg_dump" -h 127.0.0.1 -p $SRC_PORT -U postgres -t 'pgbench_*' postgres | psql_ -p $NAT_PORT -d dump >/dev/null
T_DUMP=$(secs "$T0" "$(now)")

if [ -n "${LOAD_ONLY:-}" ]; then
  kill -TERM $SYNC_PID; wait $SYNC_PID || true; SYNC_PID=
  echo "initial load, scale $SCALE: strangler ${T_OURS}s, CREATE SUBSCRIPTION ${T_NATIVE}s, pg_dump|psql ${T_DUMP}s;" \
    "strangler/native $(echo "scale=2; $T_OURS / $T_NATIVE" | bc), strangler/pg_dump $(echo "scale=2; $T_OURS / $T_DUMP" | bc)"
  exit 0
fi

# 2. catch-up after one big UPDATE.
N=$((ROWS / 5))
wait_ours() { # lsn
  until [ "$(psql_ -p $DST_PORT -d svc -Atc "SELECT lsn >= '$1'::pg_lsn FROM strangler.progress")" = t ]; do sleep 0.05; done; }
wait_native() {
  until [ "$(psql_ -p $SRC_PORT -d postgres -Atc "SELECT bool_and(confirmed_flush_lsn >= '$1'::pg_lsn) FROM pg_replication_slots WHERE slot_name = 'native'")" = t ]; do sleep 0.05; done; }
settle
psql_ -p $SRC_PORT -d postgres -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= $N"
T0=$(now)
LSN=$(psql_ -p $SRC_PORT -d postgres -Atc "SELECT pg_current_wal_lsn()")
( wait_ours "$LSN"; now > "$WORK/cu_ours" ) & P1=$!
( wait_native "$LSN"; now > "$WORK/cu_native" ) & P2=$!
wait $P1 $P2
T_CU_OURS=$(secs "$T0" "$(cat "$WORK/cu_ours")")
T_CU_NATIVE=$(secs "$T0" "$(cat "$WORK/cu_native")")

# 3. lag under pgbench -N.
"$BIN/pgbench" -N -c 4 -j 2 -T 30 -R "${LAG_RATE:-1000}" -h 127.0.0.1 -p $SRC_PORT -U postgres postgres > "$WORK/pgbench.out" 2>&1 &
PB=$!
: > "$WORK/samples"
# One sampler: time, monolith WAL position, applied position (bytes).
while kill -0 $PB 2>/dev/null; do
  SRC=$(psql_ -p $SRC_PORT -d postgres -Atc "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
  DST=$(psql_ -p $DST_PORT -d svc -Atc "SELECT lsn - '0/0'::pg_lsn FROM strangler.progress")
  echo "$(now) $SRC $DST" >> "$WORK/samples"
  sleep 0.05
done
wait $PB || true
# Lag of a monolith sample: time until a later sample shows it applied.
awk '{t[NR]=$1; s[NR]=$2; d[NR]=$3} END {
  j=1; for (i=1; i<=NR; i++) { while (j<=NR && (d[j] < s[i] || t[j] < t[i])) j++; if (j<=NR) print t[j]-t[i] }
}' "$WORK/samples" > "$WORK/lag"
TPS=$(grep -Eo 'tps = [0-9.]+' "$WORK/pgbench.out" | head -1 | cut -d' ' -f3)
LAG=$(sort -n "$WORK/lag" | awk '{a[NR]=$1} END {printf "p50 %.3f s, p99 %.3f s, max %.3f s (%d samples; resolution about 0.1 s)", a[int(NR*0.5)+1], a[int(NR*0.99)+1], a[NR], NR}')

"$STRANGLER" sync verify --plan "$WORK/plan.toml" >/dev/null && VERIFY=ok || VERIFY=MISMATCH
kill -TERM $SYNC_PID; wait $SYNC_PID || true; SYNC_PID=

ratio() { echo "scale=2; $1 / $2" | bc; }
cat <<REPORT
strangler sync benchmark, pgbench scale $SCALE ($ROWS accounts), $(nproc) cores
initial load:  strangler ${T_OURS}s, CREATE SUBSCRIPTION ${T_NATIVE}s, pg_dump|psql ${T_DUMP}s
               ratio strangler/native $(ratio "$T_OURS" "$T_NATIVE"), strangler/pg_dump $(ratio "$T_OURS" "$T_DUMP")
catch-up after UPDATE of $N rows: strangler ${T_CU_OURS}s, native ${T_CU_NATIVE}s, ratio $(ratio "$T_CU_OURS" "$T_CU_NATIVE")
lag under pgbench -N (${TPS} tps): $LAG
verify after the run: $VERIFY
REPORT
