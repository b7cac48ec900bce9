#!/usr/bin/env bash
# Scale benchmark (bench/scale.py): 100 and 100,000 roles with 1,000 providers, bulk-loaded into
# the store; start-up, RSS, IAM write and list latency, exchange throughput, and (with
# SCALE_POSTGRES_URL) propagation between two replicas on PostgreSQL. See bench/README.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in taskset python3 psql; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }
  else
    echo "wrk is missing: sudo apt-get install wrk" >&2
    exit 2
  fi
fi
venv="${BENCH_VENV:-/tmp/keyless-bench-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want="$(sha256sum bench/requirements.txt | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check -r bench/requirements.txt
  echo "$want" > "$stamp"
fi
if [ -z "${KEYLESS_BIN:-}" ]; then
  cargo build --release -p keyless
fi
exec "$venv/bin/python" bench/scale.py "$@"
