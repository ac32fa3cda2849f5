#!/usr/bin/env bash
# Instruction counts of the exporter's scrapes (BENCHMARKS.md, "Scrape cost near the limit"):
# the simulator as in benches/scrape.sh, the exporter under `valgrind --tool=callgrind` with
# counters zeroed after a warm-up scrape, then SCRAPES plain scrapes, then a dump. Unlike CPU
# time, the count does not move with the machine's load. Prints the total and the top functions
# (inclusive of nothing: self cost), and leaves callgrind.out in $OUT (default target/profile).
#
# Usage: benches/profile.sh [PHONES]   (default 10000)
# Env:   SCRAPES (5), BIN, NO_BUILD=1, TOP (25), GZIP=1 to ask for gzip.
set -euo pipefail

cd "$(dirname "$0")/.."
N=${1:-10000}
SCRAPES_N=${SCRAPES:-5}
OUT=${OUT:-target/profile}
. benches/lib.sh
mkdir -p "$OUT"
CG="$OUT/callgrind.out.$N"
rm -f "$CG"*

IDS="$WORK/ids.txt"
start_sim "$N" "$IDS" "$WORK/sim.log"
{ printf 'timeout: 60s\nmax_concurrency: 16\n'
  bench_cloud "$SIM" "{ instance_ids_file: $IDS }"; } >"$WORK/config.yaml"
port=$(free_port)
valgrind --tool=callgrind --callgrind-out-file="$CG" \
    "$BIN" --config.file "$WORK/config.yaml" --web.listen-address "127.0.0.1:$port" \
    --log.level warn >"$WORK/exporter.log" 2>&1 &
EXP_PID=$!
PIDS+=("$EXP_PID")
EXP="http://127.0.0.1:$port"
wait_for "$EXP/-/healthy" 600
HDR=()
[ -z "${GZIP:-}" ] || HDR=(-H 'Accept-Encoding: gzip')
curl -sf "${HDR[@]}" -o /dev/null "$EXP/metrics"
callgrind_control -z "$EXP_PID" >/dev/null
for _ in $(seq 1 "$SCRAPES_N"); do curl -sf "${HDR[@]}" -o /dev/null "$EXP/metrics"; done
callgrind_control -d "$EXP_PID" >/dev/null
stop "$EXP_PID" "$SIM_PID"
DUMP="$CG.1" # the dump asked for above; "$CG" itself is the exit
total=$(callgrind_annotate "$DUMP" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
echo "phones $N, $SCRAPES_N scrapes: $total instructions, $(( total / SCRAPES_N )) per scrape"
callgrind_annotate --threshold=100 "$DUMP" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n "1,${TOP:-25}p"
