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
LATENCY_MS=${LATENCY_MS:-50}
CONCURRENCY=${CONCURRENCY:-16}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET/release/huaweicloud-exporter}
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # URL
    for _ in $(seq 1 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "timed out waiting for $1" >&2; return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
calls_of() { # SIM_BASE OPERATION
    curl -sf "$1/_sim/calls" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"
}
ms() { awk -v t="$1" -v tck="$CLK_TCK" -v k="$2" 'BEGIN { printf "%.1f", t / tck / k * 1000 }'; }

config() { # NAME SIM_BASE KOOPHONE_SECTION
    cat <<YAML
timeout: 120s
max_concurrency: $CONCURRENCY
clouds:
  - name: bench
    region: ap-southeast-1
    project_id: 0123456789abcdef0123456789abcdef
    auth: { token: { value: demo-static-token } }
    endpoints: { iam: "$2", dcs: "$2", ddm: "$2", koophone: "$2" }
    koophone: $3
YAML
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
    SIM_PORT=$(free_port)
    IDS="$WORK/ids-$N.txt"
    "$BIN" simulate --listen "127.0.0.1:$SIM_PORT" --phones "$N" --latency "${LATENCY_MS}ms" \
        --tick 0s --write-ids "$IDS" >"$WORK/sim-$N.log" 2>&1 &
    SIM_PID=$!
    PIDS+=("$SIM_PID")
    SIM="http://127.0.0.1:$SIM_PORT"
    wait_for "$SIM/_sim/faults"
    for _ in $(seq 1 300); do
        [ "$({ wc -l <"$IDS"; } 2>/dev/null || echo 0)" -ge "$N" ] && break
        sleep 0.1
    done

    # Discovery: the first scrape waits for the first listing (or its deadline); the listing
    # goes on behind it, so poll until the discovery collector reports a success.
    D_PORT=$(free_port)
    config bench "$SIM" "{ discovery: { refresh_interval: 1h } }" >"$WORK/disc-$N.yaml"
    "$BIN" --config.file "$WORK/disc-$N.yaml" --web.listen-address "127.0.0.1:$D_PORT" \
        --log.level warn >"$WORK/disc-$N.log" 2>&1 &
    D_PID=$!
    PIDS+=("$D_PID")
    wait_for "http://127.0.0.1:$D_PORT/-/healthy"
    c0=$(cpu_ticks "$D_PID")
    ok=""
    for _ in $(seq 1 600); do
        curl -sf -o "$WORK/first.txt" "http://127.0.0.1:$D_PORT/metrics" || true
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
    read -r d_status d_list d_wall d_cpu d_mb < <(measure "http://127.0.0.1:$D_PORT/metrics" "$D_PID" "$SIM")
    kill "$D_PID" 2>/dev/null || true
    wait "$D_PID" 2>/dev/null || true

    # Listed ids, same phones, same simulator.
    L_PORT=$(free_port)
    config bench "$SIM" "{ instance_ids_file: $IDS }" >"$WORK/ids-$N.yaml"
    "$BIN" --config.file "$WORK/ids-$N.yaml" --web.listen-address "127.0.0.1:$L_PORT" \
        --log.level warn >"$WORK/ids-$N.log" 2>&1 &
    L_PID=$!
    PIDS+=("$L_PID")
    wait_for "http://127.0.0.1:$L_PORT/-/healthy"
    curl -sf -o /dev/null "http://127.0.0.1:$L_PORT/metrics"
    read -r _ _ l_wall l_cpu l_mb < <(measure "http://127.0.0.1:$L_PORT/metrics" "$L_PID" "$SIM")

    printf '%-8d %6d | %9d %11s %11s | %7d %6d %9s %8s %7s | %9s %8s %7s\n' \
        "$N" $(( (N + 99) / 100 )) "$list_calls" "$refresh_ms" "$refresh_cpu" \
        "$d_status" "$d_list" "$d_wall" "$d_cpu" "$d_mb" "$l_wall" "$l_cpu" "$l_mb"
    kill "$L_PID" "$SIM_PID" 2>/dev/null || true
    wait "$L_PID" "$SIM_PID" 2>/dev/null || true
done
