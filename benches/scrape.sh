#!/usr/bin/env bash
# End-to-end scrape benchmark (BENCHMARKS.md): the simulator (separate process, 50 ms per call)
# and the exporter (max_concurrency 16, phones from instance_ids_file), then N scrapes of
# /metrics at each fleet size. Reports wall time per scrape against the critical-path bound
# ceil(calls/16) x 50 ms, exporter CPU per scrape (utime+stime of the exporter process from
# /proc/<pid>/stat), peak RSS (VmHWM), bytes of exposition; then the same number of scrapes
# asking for gzip (`Accept-Encoding: gzip`, as Prometheus sends it): bytes on the wire, wall and
# exporter CPU per scrape with gzip.
#
# Usage: benches/scrape.sh [SIZES...]   (default: 1000 10000 100000)
# Env:   SCRAPES (default: 200,000/phones, between 10 and 100), BIN (default: release build under $CARGO_TARGET_DIR or target/),
#        LATENCY_MS (50), CONCURRENCY (16), NO_BUILD=1 to skip `cargo build --release`.
set -euo pipefail

cd "$(dirname "$0")/.."
SCRAPES_FIXED=${SCRAPES:-}
SIZES=("${@:-1000 10000 100000}")
read -r -a SIZES <<<"${SIZES[*]}"
CONCURRENCY=${CONCURRENCY:-16}
. benches/lib.sh

printf '%-8s %6s %9s %9s %9s %7s %8s %10s %9s %10s %8s %9s %9s %10s %9s\n' \
    phones calls bound_ms wall_ms max_ms ratio call_ms call_ratio cpu_ms cpu_us/ph hwm_MB bytes gz_B gz_wall_ms gz_cpu_ms
for N in "${SIZES[@]}"; do
    SCRAPES=${SCRAPES_FIXED:-$(( 200000 / N < 10 ? 10 : (200000 / N > 100 ? 100 : 200000 / N) ))}
    IDS="$WORK/ids-$N.txt"
    start_sim "$N" "$IDS" "$WORK/sim-$N.log"
    { printf 'timeout: 60s\nmax_concurrency: %s\n' "$CONCURRENCY"
      bench_cloud "$SIM" "{ instance_ids_file: $IDS }"; } >"$WORK/config-$N.yaml"
    start_exporter "$WORK/config-$N.yaml" "$WORK/exporter-$N.log" warn
    URL="$EXP/metrics"
    # Warm-up: connection pool filled, phone list read, allocator grown.
    curl -sf -o "$WORK/out-$N.txt" "$URL"
    if ! grep -q '^huaweicloud_scrape_collector_success{cloud="bench",collector="koophone"} 1' "$WORK/out-$N.txt"; then
        echo "koophone collector failed at $N phones; see $WORK/exporter-$N.log" >&2
        cat "$WORK/exporter-$N.log" >&2
        exit 1
    fi
    before=$(cpu_ticks "$EXP_PID")
    walls=()
    for _ in $(seq 1 "$SCRAPES"); do
        walls+=("$(curl -sf -o "$WORK/out-$N.txt" -w '%{time_total}' "$URL")")
    done
    after=$(cpu_ticks "$EXP_PID")
    hwm=$(hwm_kb "$EXP_PID")
    bytes=$(wc -c <"$WORK/out-$N.txt")
    # Mean duration of one upstream call as the exporter timed it (latency + simulator work +
    # transfer), from its own histogram: what the critical path is really made of.
    call_ms=$(awk '/^huaweicloud_api_request_duration_seconds_sum\{.*koophone_batch_status/ {s = $2}
        /^huaweicloud_api_request_duration_seconds_count\{.*koophone_batch_status/ {c = $2}
        END { printf "%.2f", c ? s / c * 1000 : 0 }' "$WORK/out-$N.txt")
    # The same scrapes with gzip negotiated: curl does not decode (no --compressed), so the
    # file holds what crossed the wire; it must be gzip of a complete exposition.
    gz_before=$(cpu_ticks "$EXP_PID")
    gz_walls=()
    for _ in $(seq 1 "$SCRAPES"); do
        gz_walls+=("$(curl -sf -H 'Accept-Encoding: gzip' -o "$WORK/out-$N.gz" -w '%{time_total}' "$URL")")
    done
    gz_after=$(cpu_ticks "$EXP_PID")
    gz=$(wc -c <"$WORK/out-$N.gz")
    if ! gzip -dc "$WORK/out-$N.gz" | grep -q '^huaweicloud_scrape_collector_success{cloud="bench",collector="koophone"} 1'; then
        echo "the gzip answer at $N phones is not a gzip of a good exposition" >&2
        exit 1
    fi
    gz_wall=$(printf '%s\n' "${gz_walls[@]}" | awk '{ s += $1 } END { printf "%.1f", s / NR * 1000 }')
    gz_cpu=$(awk -v t=$((gz_after - gz_before)) -v tck="$CLK_TCK" -v k="$SCRAPES" 'BEGIN { printf "%.2f", t / tck / k * 1000 }')
    calls=$(( (N + 99) / 100 ))
    bound=$(( (calls + CONCURRENCY - 1) / CONCURRENCY * LATENCY_MS ))
    printf '%s\n' "${walls[@]}" | awk -v n="$N" -v calls="$calls" -v bound="$bound" \
        -v ticks=$((after - before)) -v tck="$CLK_TCK" -v k="$SCRAPES" -v hwm="$hwm" \
        -v bytes="$bytes" -v gz="$gz" -v gzwall="$gz_wall" -v gzcpu="$gz_cpu" -v callms="$call_ms" '
        { s += $1; if ($1 > m) m = $1 }
        END {
            wall = s / NR * 1000; cpu = ticks / tck / k * 1000
            waves = bound / '"$LATENCY_MS"'
            # call_ratio: wall against the bound rebuilt from the measured call duration.
            printf "%-8d %6d %9d %9.1f %9.1f %7.3f %8.2f %10.3f %9.2f %10.3f %8.1f %9d %9d %10.1f %9.2f\n",
                n, calls, bound, wall, m * 1000, (bound ? wall / bound : 0), callms,
                (callms > 0 ? wall / (waves * callms) : 0), cpu, cpu * 1000 / n,
                hwm / 1024, bytes, gz, gzwall, gzcpu
        }'
    stop "$EXP_PID" "$SIM_PID"
done
