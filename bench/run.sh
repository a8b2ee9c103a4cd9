#!/bin/sh
# Reproduce the fleet benchmarks and record them in bench/RESULTS.md.
# Usage: bench/run.sh            (10,000 services × 100 runs in the 30-day
#                                 window = 1M runs, then 9M older runs added:
#                                 10M; a 100,000-service list; 1,000 installs)
#        bench/run.sh --smoke    (print the table only; with small sizes,
#                                 a smoke test: see .ci/run)
# Sizes: SYNCFLEET_BENCH_SERVICES, _RUNS, _OLD_RUNS, _BIG_FLEET, _INSTALLS
# (see benches/fleet.rs). The generated fleets are cached under
# target/bench-cache/ (delete it to regenerate). Needs the sqlite3 shell on
# PATH (the baselines) and a quiet machine for figures worth comparing.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp)
load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
cargo bench --bench fleet 2>&1 | tee "$out"
table=$(grep -E '^\|' "$out")
rm -f "$out"
[ -n "$table" ] || { echo "bench/run.sh: the benchmark printed no table" >&2; exit 1; }
if [ "${1:-}" = "--smoke" ]; then
    exit 0
fi
# The measured block goes between the markers; the notes around it stay.
{
    echo "<!-- bench/run.sh: generated from here -->"
    echo "Reproduce: \`bench/run.sh\` (runs \`cargo bench --bench fleet\`, release build)."
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- machine: $(nproc) cores, $(uname -sr); sqlite3 $(sqlite3 --version | cut -d' ' -f1); load average before the run: $load"
    echo "- sizes: services=${SYNCFLEET_BENCH_SERVICES:-10000}, runs/service in the window=${SYNCFLEET_BENCH_RUNS:-100}, older runs/service=${SYNCFLEET_BENCH_OLD_RUNS:-900}, large fleet=${SYNCFLEET_BENCH_BIG_FLEET:-100000}, installs=${SYNCFLEET_BENCH_INSTALLS:-1000}"
    echo
    echo "$table"
    echo "<!-- bench/run.sh: generated to here -->"
} > bench/RESULTS.md.block
if grep -q '^<!-- bench/run.sh: generated from here -->$' bench/RESULTS.md 2>/dev/null; then
    awk 'FNR == NR { block = block $0 "\n"; next }
         /^<!-- bench\/run.sh: generated from here -->$/ { printf "%s", block; skip = 1; next }
         /^<!-- bench\/run.sh: generated to here -->$/ { skip = 0; next }
         !skip' bench/RESULTS.md.block bench/RESULTS.md > bench/RESULTS.md.new
else
    { echo "# Fleet benchmark results"; echo; cat bench/RESULTS.md.block; } > bench/RESULTS.md.new
fi
rm -f bench/RESULTS.md.block
mv bench/RESULTS.md.new bench/RESULTS.md
echo
echo "$table"
echo "wrote bench/RESULTS.md"
