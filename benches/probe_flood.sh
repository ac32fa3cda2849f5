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
. benches/lib.sh

printf '%-22s %6s %6s %6s %9s %7s %8s\n' budget probes ok_200 r_429 commands polls wall_s
for BUDGET in default "$MAX_OFF"; do
    IDS="$WORK/ids.txt"
    start_sim "$N" "$IDS" "$WORK/sim.log" --job-delay "$JOB_DELAY"
    LIMIT=""
    [ "$BUDGET" = default ] || LIMIT="max_commands_per_minute: $BUDGET"
    { bench_cloud "$SIM" "{ instance_ids_file: $IDS }"; cat <<YAML; } >"$WORK/config.yaml"
probes:
  boot:
    cloud: bench
    command: getprop sys.boot_completed
    expect: "^1$"
    timeout: 30s
    $LIMIT
YAML
    start_exporter "$WORK/config.yaml" "$WORK/exporter.log" error
    read -r ok r429 wall < <(python3 - "$EXP" "$IDS" <<'PY'
import sys, time, urllib.request, urllib.error
from concurrent.futures import ThreadPoolExecutor
base, ids = sys.argv[1], [l.strip() for l in open(sys.argv[2]) if l.strip()]
def probe(i):
    url = f"{base}/probe?module=boot&target={i}"
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
    calls=$(curl -sf "$SIM/_sim/calls")
    commands=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["koophone_async_command"])' "$calls")
    polls=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["koophone_task"])' "$calls")
    printf '%-22s %6d %6d %6d %9d %7d %8s\n' "$BUDGET" "$N" "$ok" "$r429" "$commands" "$polls" "$wall"
    stop "$EXP_PID" "$SIM_PID"
done
