#!/usr/bin/env bash
# Partial-failure benchmark (BENCHMARKS.md "Isolating bad phones"): the simulator (separate
# process, LATENCY_MS per call) with BAD phones spread over distinct batches answering
# `forbidden_ids` (KOOPHONE.API.1001 for any batch holding one), and the exporter
# (max_concurrency 16, phones from instance_ids_file). For each fleet size: batch-status calls
# and wall time of a healthy scrape, of the first scrape with the bad phones (splitting), and
# of the next one (the bad phones remembered), plus the phones reported and isolated.
#
# Usage: benches/isolate.sh [SIZES...]   (default: 1000 10000 100000)
# Env:   BAD (default 10), LATENCY_MS (50), CONCURRENCY (16),
#        BIN (default: release build under $CARGO_TARGET_DIR or target/), NO_BUILD=1.
set -euo pipefail

cd "$(dirname "$0")/.."
SIZES=("${@:-1000 10000 100000}")
read -r -a SIZES <<<"${SIZES[*]}"
BAD=${BAD:-10}
CONCURRENCY=${CONCURRENCY:-16}
. benches/lib.sh
calls() { curl -sf "$SIM/_sim/calls" | python3 -c 'import json,sys; print(json.load(sys.stdin)["koophone_batch_status"])'; }
value() { # FILE METRIC-PREFIX: sum of the samples
    awk -v p="$2" 'index($0, p) == 1 { s += $NF } END { print s + 0 }' "$1"
}
scrape() { # LABEL
    local c0 c1 wall
    c0=$(calls)
    wall=$(curl -sf -o "$WORK/out.txt" -w '%{time_total}' "$URL")
    c1=$(calls)
    printf '%-8s %-10s %6s %8.0f %9s %9s %8s\n' "$N" "$1" $((c1 - c0)) \
        "$(awk -v w="$wall" 'BEGIN { print w * 1000 }')" \
        "$(value "$WORK/out.txt" 'huaweicloud_koophone_instances_reported{')" \
        "$(value "$WORK/out.txt" 'huaweicloud_koophone_isolated_instances{')" \
        "$(value "$WORK/out.txt" 'huaweicloud_scrape_collector_success{cloud="bench",collector="koophone"}')"
}

printf '%-8s %-10s %6s %8s %9s %9s %8s\n' phones scrape calls wall_ms reported isolated success
for N in "${SIZES[@]}"; do
    IDS="$WORK/ids-$N.txt"
    start_sim "$N" "$IDS" "$WORK/sim-$N.log"
    { printf 'timeout: 60s\nmax_concurrency: %s\n' "$CONCURRENCY"
      bench_cloud "$SIM" "{ instance_ids_file: $IDS }"; } >"$WORK/config-$N.yaml"
    start_exporter "$WORK/config-$N.yaml" "$WORK/exporter-$N.log" error
    URL="$EXP/metrics"
    curl -sf -o /dev/null "$URL" # warm-up
    scrape healthy
    # BAD phones, one per batch, spread over the fleet (the 37th phone of every k-th batch).
    BATCHES=$(( (N + 99) / 100 ))
    STEP=$(( BATCHES / BAD > 0 ? BATCHES / BAD : 1 ))
    FAULT=$(awk -v step="$STEP" -v bad="$BAD" 'BEGIN { n = 0 }
        (NR - 1) % 100 == 37 && int((NR - 1) / 100) % step == 0 && n < bad { ids = ids (n ? "," : "") "\"" $1 "\""; n++ }
        END { printf "{\"kind\":\"forbidden_ids\",\"ids\":[%s]}", ids }' "$IDS")
    curl -sf -X PUT -o /dev/null -d "$FAULT" "$SIM/_sim/faults/koophone_batch_status"
    scrape first
    scrape next
    stop "$EXP_PID" "$SIM_PID"
done
