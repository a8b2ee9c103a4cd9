#!/bin/sh
# Reproduce the fleet benchmarks and record them in bench/RESULTS.md.
# Usage: bench/run.sh            (10,000 services, 1,000,000 runs, 1,000 installs)
#        SYNCFLEET_BENCH_SERVICES=1000 SYNCFLEET_BENCH_RUNS=10 bench/run.sh   (a quick look)
# Needs the sqlite3 shell on PATH (the report baseline).
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp)
cargo bench --bench fleet 2>&1 | tee "$out"
{
    echo "# Fleet benchmark results"
    echo
    echo "Reproduce: \`bench/run.sh\` (runs \`cargo bench --bench fleet\`, release build)."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) cores, $(uname -sr); sqlite3 $(sqlite3 --version | cut -d' ' -f1)"
    echo "- sizes: services=${SYNCFLEET_BENCH_SERVICES:-10000}, runs/service=${SYNCFLEET_BENCH_RUNS:-100}, installs=${SYNCFLEET_BENCH_INSTALLS:-1000}"
    echo
    grep -E '^(\||generated)' "$out"
} > bench/RESULTS.md
rm -f "$out"
echo "wrote bench/RESULTS.md"
