# Shared by the benches/*.sh scripts (source it after `set -euo pipefail` and `cd` to the root):
# the binary (built unless NO_BUILD=1; BIN overrides it), a work directory removed on exit
# together with every process started through it, free ports, waiting for an endpoint, the
# simulator with its phone-id file, an exporter, the bench cloud's config, and /proc readings.

TARGET=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET/release/huaweicloud-exporter}
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked --quiet
CLK_TCK=$(getconf CLK_TCK)
LATENCY_MS=${LATENCY_MS:-50}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # URL [TRIES, 0.1 s apart; default 300]
    for _ in $(seq 1 "${2:-300}"); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
    echo "timed out waiting for $1" >&2; return 1
}
stop() { # PID...
    kill "$@" 2>/dev/null || true
    wait "$@" 2>/dev/null || true
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# Starts the simulator with N phones (LATENCY_MS per call, a frozen fleet) writing their ids to
# IDS, and waits until it answers and the file is complete. Sets SIM_PID and SIM (its base URL).
start_sim() { # N IDS LOG [MORE SIMULATE FLAGS...]
    local n=$1 ids=$2 log=$3 port
    shift 3
    port=$(free_port)
    rm -f "$ids"
    "$BIN" simulate --listen "127.0.0.1:$port" --phones "$n" --latency "${LATENCY_MS}ms" \
        --tick 0s --write-ids "$ids" "$@" >"$log" 2>&1 &
    SIM_PID=$!
    PIDS+=("$SIM_PID")
    SIM="http://127.0.0.1:$port"
    wait_for "$SIM/_sim/faults"
    for _ in $(seq 1 300); do
        [ "$({ wc -l <"$ids"; } 2>/dev/null || echo 0)" -ge "$n" ] && break
        sleep 0.1
    done
}

# Starts an exporter on CONFIG and waits until it is healthy. Sets EXP_PID and EXP (its base URL).
start_exporter() { # CONFIG LOG LOG_LEVEL [TRIES for the health check]
    local port
    port=$(free_port)
    "$BIN" --config.file "$1" --web.listen-address "127.0.0.1:$port" \
        --log.level "$3" >"$2" 2>&1 &
    EXP_PID=$!
    PIDS+=("$EXP_PID")
    EXP="http://127.0.0.1:$port"
    wait_for "$EXP/-/healthy" "${4:-300}"
}

# The bench cloud, a static token, every endpoint the simulator at SIM_BASE.
bench_cloud() { # SIM_BASE KOOPHONE_SECTION
    cat <<YAML
clouds:
  - name: bench
    region: ap-southeast-1
    project_id: 0123456789abcdef0123456789abcdef
    auth: { token: { value: demo-static-token } }
    endpoints: { iam: "$1", dcs: "$1", ddm: "$1", koophone: "$1" }
    koophone: $2
YAML
}
