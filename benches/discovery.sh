#!/usr/bin/env bash
# KooPhone discovery benchmark (BENCHMARKS.md "Discovery"): at each fleet size, the simulator
# (separate process, LATENCY_MS per call) and two exporters against it, one discovering the
# phones (`koophone: { discovery: { refresh_interval: 1h } }`), one reading the same phones from
# an instance_ids_file. Reports:
#   - the first refresh's own cost with discovery: list calls, wall (the discovery collector's
#     duration as the exporter measured it), exporter CPU from start to the inventory being in
#     place (utime+stime from /proc/<pid>/stat);
#   - between refreshes, per scrape: status calls and list calls (from the simulator's
#     /_sim/calls: must be ceil(N/100) and 0), wall, exporter CPU, peak RSS (VmHWM), for
#     discovery and for listed ids.
#
# Usage: benches/discovery.sh [SIZES...]   (default: 1000 10000 100000)
# Env:   SCRAPES (default 10), LATENCY_MS (50), CONCURRENCY (16), BIN (default: release build
#        under $CARGO_TARGET_DIR or target/), NO_BUILD=1 to skip `cargo build --release`.
set -euo pipefail

cd "$(dirname "$0")/.."
SIZES=("${@:-1000 10000 100000}")
read -r -a SIZES <<<"${SIZES[*]}"
SCRAPES=${SCRAPES:-10}
CONCURRENCY=${CONCURRENCY:-16}
. benches/lib.sh
calls_of() { # SIM_BASE OPERATION
    curl -sf "$1/_sim/calls" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"
}
ms() { awk -v t="$1" -v tck="$CLK_TCK" -v k="$2" 'BEGIN { printf "%.1f", t / tck / k * 1000 }'; }

config() { # SIM_BASE KOOPHONE_SECTION
    printf 'timeout: 120s\nmax_concurrency: %s\n' "$CONCURRENCY"
    bench_cloud "$1" "$2"
}

# Scrapes $SCRAPES times; prints "status_calls_per_scrape list_calls wall_ms cpu_ms hwm_MB".
measure() { # URL PID SIM_BASE
    local s0 l0 c0 walls=() s1 l1 c1
    s0=$(calls_of "$3" koophone_batch_status)
    l0=$(calls_of "$3" koophone_list)
    c0=$(cpu_ticks "$2")
    for _ in $(seq 1 "$SCRAPES"); do
        walls+=("$(curl -sf -o "$WORK/out.txt" -w '%{time_total}' "$1")")
    done
    c1=$(cpu_ticks "$2")
    s1=$(calls_of "$3" koophone_batch_status)
    l1=$(calls_of "$3" koophone_list)
    grep -q '^huaweicloud_scrape_collector_success{cloud="bench",collector="koophone"} 1' "$WORK/out.txt" \
        || { echo "koophone collector failed; see $WORK" >&2; exit 1; }
    local wall
    wall=$(printf '%s\n' "${walls[@]}" | awk '{ s += $1 } END { printf "%.1f", s / NR * 1000 }')
    echo "$(( (s1 - s0) / SCRAPES )) $(( l1 - l0 )) $wall $(ms $((c1 - c0)) "$SCRAPES") $(awk -v k="$(hwm_kb "$2")" 'BEGIN { printf "%.1f", k / 1024 }')"
}

printf '%-8s %6s | %9s %11s %11s | %7s %6s %9s %8s %7s | %9s %8s %7s\n' \
    phones want list_calls refresh_ms refresh_cpu status/s list d_wall_ms d_cpu_ms d_MB ids_wall ids_cpu ids_MB
for N in "${SIZES[@]}"; do
    IDS="$WORK/ids-$N.txt"
    start_sim "$N" "$IDS" "$WORK/sim-$N.log"

    # Discovery: the first scrape waits for the first listing (or its deadline); the listing
    # goes on behind it, so poll until the discovery collector reports a success.
    config "$SIM" "{ discovery: { refresh_interval: 1h } }" >"$WORK/disc-$N.yaml"
    start_exporter "$WORK/disc-$N.yaml" "$WORK/disc-$N.log" warn 600
    D_PID=$EXP_PID
    D_URL="$EXP/metrics"
    c0=$(cpu_ticks "$D_PID")
    ok=""
    for _ in $(seq 1 600); do
        curl -sf -o "$WORK/first.txt" "$D_URL" || true
        if grep -q '^huaweicloud_scrape_collector_success{cloud="bench",collector="koophone_discovery"} 1' "$WORK/first.txt" \
            && grep -q '^huaweicloud_scrape_collector_success{cloud="bench",collector="koophone"} 1' "$WORK/first.txt"; then
            ok=1; break
        fi
        sleep 0.5
    done
    [ -n "$ok" ] || { echo "discovery never succeeded at $N phones; see $WORK/disc-$N.log" >&2; cat "$WORK/disc-$N.log" >&2; exit 1; }
    # The CPU of the listing plus the scrapes that waited on it (status calls included).
    refresh_cpu=$(ms $(( $(cpu_ticks "$D_PID") - c0 )) 1)
    list_calls=$(calls_of "$SIM" koophone_list)
    refresh_ms=$(awk '/^huaweicloud_scrape_collector_duration_seconds\{cloud="bench",collector="koophone_discovery"\}/ { printf "%.0f", $2 * 1000 }' "$WORK/first.txt")
    read -r d_status d_list d_wall d_cpu d_mb < <(measure "$D_URL" "$D_PID" "$SIM")
    stop "$D_PID"

    # Listed ids, same phones, same simulator.
    config "$SIM" "{ instance_ids_file: $IDS }" >"$WORK/ids-$N.yaml"
    start_exporter "$WORK/ids-$N.yaml" "$WORK/ids-$N.log" warn 600
    L_PID=$EXP_PID
    L_URL="$EXP/metrics"
    curl -sf -o /dev/null "$L_URL"
    read -r _ _ l_wall l_cpu l_mb < <(measure "$L_URL" "$L_PID" "$SIM")

    printf '%-8d %6d | %9d %11s %11s | %7d %6d %9s %8s %7s | %9s %8s %7s\n' \
        "$N" $(( (N + 99) / 100 )) "$list_calls" "$refresh_ms" "$refresh_cpu" \
        "$d_status" "$d_list" "$d_wall" "$d_cpu" "$d_mb" "$l_wall" "$l_cpu" "$l_mb"
    stop "$L_PID" "$SIM_PID"
done
