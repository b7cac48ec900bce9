#!/usr/bin/env bash
# Everything docs/performance.md reports, in one go: the release build, the load benchmark
# (bench/run.sh), keyless beside the other servers (bench/peers.sh), a perf profile of the
# exchange (bench/perf-shares.py) and the per-stage micro-benchmarks (criterion). About 20
# minutes on a 2-core machine after the build. Results: stdout and $BENCH_ALL_OUT
# (default /tmp/keyless-bench-all).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${BENCH_ALL_OUT:-/tmp/keyless-bench-all}"
cd "$repo"
mkdir -p "$out"
cargo build --release --locked -p keyless
export KEYLESS_BIN="$repo/target/release/keyless"

echo "== load (bench/run.sh)"
bench/run.sh 2>&1 | tee "$out/load.txt"

echo "== other servers (bench/peers.sh)"
PEERBENCH_OUT="$out/peers" bench/peers.sh 2>&1 | tee "$out/peers.txt"

echo "== profile of the exchange (perf)"
if command -v perf >/dev/null; then
  BENCH_PROFILE=perf BENCH_SCENARIOS=distinct BENCH_CONNS=32 BENCH_REPEATS=1 BENCH_DURATION=5 \
    BENCH_TOKENS=500 bench/run.sh 2>&1 | tee "$out/profile-run.txt"
  scratch="$(sed -n 's/.*results: \(\/tmp\/keyless-bench-[^/]*\)\/results.md.*/\1/p' "$out/profile-run.txt" | tail -1)"
  us_per_req="$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["runs"][0]["server_cpu_us_per_req"]))' "$scratch/results.json")"
  bench/perf-shares.py "$scratch/perf.distinct-c32.data" "$us_per_req" | tee "$out/profile.md"
else
  echo "perf is not installed: no profile (Debian: apt-get install linux-perf)"
fi

echo "== stages (criterion)"
cargo bench --locked -p keyless-sts --bench stages -- --measurement-time 3 | tee "$out/stages.txt"
echo "results in $out"
