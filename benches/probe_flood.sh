#!/usr/bin/env bash
# Probe-flood benchmark (BENCHMARKS.md, issue 11 item 15): the simulator (separate process) and
# the exporter, then N concurrent /probe requests, one per distinct configured phone, all at
# once. Reports how the requests were answered (200 / 429), how many async-command calls and
# task polls reached the simulator, and the wall time of the flood. Run once with the module's
# default command budget and once with the budget effectively off (MAX_OFF), which is what the
# exporter did before it had one.
#
# Usage: benches/probe_flood.sh [N]   (default 1000)
# Env:   BIN (default: release build under $CARGO_TARGET_DIR or target/), NO_BUILD=1 to skip
#        `cargo build --release`, LATENCY_MS (20), JOB_DELAY (2s), MAX_OFF (1000000).
set -euo pipefail

cd "$(dirname "$0")/.."
N=${1:-1000}
LATENCY_MS=${LATENCY_MS:-20}
JOB_DELAY=${JOB_DELAY:-2s}
MAX_OFF=${MAX_OFF:-1000000}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET/release/huaweicloud-exporter}
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet
WORK=$(mktemp -d)
SIM_PID=""
EXP_PID=""
cleanup() {
    [ -n "$EXP_PID" ] && kill "$EXP_PID" 2>/dev/null || true
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # URL
    for _ in $(seq 1 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "timed out waiting for $1" >&2; return 1
}

printf '%-22s %6s %6s %6s %9s %7s %8s\n' budget probes ok_200 r_429 commands polls wall_s
for BUDGET in default "$MAX_OFF"; do
    SIM_PORT=$(free_port)
    EXP_PORT=$(free_port)
    IDS="$WORK/ids.txt"
    rm -f "$IDS"
    "$BIN" simulate --listen "127.0.0.1:$SIM_PORT" --phones "$N" --latency "${LATENCY_MS}ms" \
        --tick 0s --job-delay "$JOB_DELAY" --write-ids "$IDS" >"$WORK/sim.log" 2>&1 &
    SIM_PID=$!
    wait_for "http://127.0.0.1:$SIM_PORT/_sim/faults"
    for _ in $(seq 1 300); do
        [ "$({ wc -l <"$IDS"; } 2>/dev/null || echo 0)" -ge "$N" ] && break
        sleep 0.1
    done
    BASE="http://127.0.0.1:$SIM_PORT"
    LIMIT=""
    [ "$BUDGET" = default ] || LIMIT="max_commands_per_minute: $BUDGET"
    cat >"$WORK/config.yaml" <<YAML
clouds:
  - name: bench
    region: ap-southeast-1
    project_id: 0123456789abcdef0123456789abcdef
    auth: { token: { value: demo-static-token } }
    endpoints: { iam: "$BASE", dcs: "$BASE", ddm: "$BASE", koophone: "$BASE" }
    koophone: { instance_ids_file: $IDS }
probes:
  boot:
    cloud: bench
    command: getprop sys.boot_completed
    expect: "^1$"
    timeout: 30s
    $LIMIT
YAML
    "$BIN" --config.file "$WORK/config.yaml" --web.listen-address "127.0.0.1:$EXP_PORT" \
        --log.level error >"$WORK/exporter.log" 2>&1 &
    EXP_PID=$!
    wait_for "http://127.0.0.1:$EXP_PORT/-/healthy"
    read -r ok r429 wall < <(python3 - "$EXP_PORT" "$IDS" <<'PY'
import sys, time, urllib.request, urllib.error
from concurrent.futures import ThreadPoolExecutor
port, ids = sys.argv[1], [l.strip() for l in open(sys.argv[2]) if l.strip()]
def probe(i):
    url = f"http://127.0.0.1:{port}/probe?module=boot&target={i}"
    try:
        with urllib.request.urlopen(url, timeout=120) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
start = time.monotonic()
with ThreadPoolExecutor(max_workers=len(ids)) as pool:
    codes = list(pool.map(probe, ids))
print(codes.count(200), codes.count(429), f"{time.monotonic() - start:.2f}")
PY
)
    calls=$(curl -sf "$BASE/_sim/calls")
    commands=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["koophone_async_command"])' "$calls")
    polls=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["koophone_task"])' "$calls")
    printf '%-22s %6d %6d %6d %9d %7d %8s\n' "$BUDGET" "$N" "$ok" "$r429" "$commands" "$polls" "$wall"
    kill "$EXP_PID" "$SIM_PID" 2>/dev/null || true
    wait "$EXP_PID" "$SIM_PID" 2>/dev/null || true
    EXP_PID=""
    SIM_PID=""
done
