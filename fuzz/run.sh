#!/usr/bin/env bash
# Runs every fuzz target for RUNS executions (default 1,000,000), one after another, seeding each
# corpus from fuzz/seeds/. Works on stable with `--sanitizer none` (the default here); set
# SANITIZER=address on nightly for ASan. Logs go to fuzz/logs/TARGET.log; the last line of each
# (`Done N runs in S second(s)`) is the execution count.
#
# Usage: fuzz/run.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${RUNS:-1000000}
SANITIZER=${SANITIZER:-none}
mapfile -t ALL < <(cargo fuzz list)
TARGETS=("${@:-${ALL[@]}}")
mkdir -p logs
cargo fuzz build --release --sanitizer "$SANITIZER"
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t"
    [ -d "seeds/$t" ] && cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
    echo "== $t"
    cargo fuzz run --release --sanitizer "$SANITIZER" "$t" "corpus/$t" -- \
        -runs="$RUNS" -max_len=4096 -timeout=10 -print_final_stats=1 >"logs/$t.log" 2>&1 || {
        echo "$t: FAILED (see fuzz/logs/$t.log)"
        continue
    }
    grep -E '^Done [0-9]+ runs' "logs/$t.log" || tail -n 3 "logs/$t.log"
done
