#!/usr/bin/env bash
# keyless load benchmark: builds the release binary once, then runs bench/loadbench.py, which
# starts `keyless serve --dev` pinned to CPU 0, mints the tokens through the mint API and drives
# wrk pinned to CPU 1 through every scenario. Results go to stdout and to the scratch folder it
# prints (/tmp/keyless-bench-*/results.{md,json}). See bench/README.md.
#
# Knobs (environment): BENCH_DURATION (10), BENCH_WARMUP (2), BENCH_REPEATS (3),
# BENCH_CONNS ("32 256"), BENCH_TOKENS (10000), BENCH_SCENARIOS (all), BENCH_SERVER_CPU (0),
# BENCH_LOAD_CPU (1), BENCH_VENV (/tmp/keyless-bench-venv), BENCH_KEEP_LOG (0), KEYLESS_BIN.
#
# `bench/run.sh authorize` runs bench/authorize.py instead: the authorization API and nginx
# auth_request (needs nginx, installed with apt-get when run as root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

main=bench/loadbench.py
if [ "${1:-}" = authorize ]; then
  shift
  main=bench/authorize.py
  if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get install -y -qq nginx || { apt-get update -qq && apt-get install -y -qq nginx; }
    else
      echo "nginx is missing: sudo apt-get install nginx" >&2
      exit 2
    fi
  fi
fi

if [ "$(nproc)" -lt 2 ]; then
  echo "needs at least 2 CPUs (server and load generator on different cores)" >&2
  exit 2
fi
for tool in taskset python3 curl; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }
  else
    echo "wrk is missing: sudo apt-get install wrk" >&2
    exit 2
  fi
fi

venv="${BENCH_VENV:-/tmp/keyless-bench-venv}"
if [ ! -x "$venv/bin/python" ]; then
  echo "creating the venv $venv" >&2
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want="$(sha256sum bench/requirements.txt | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check -r bench/requirements.txt
  echo "$want" > "$stamp"
fi

if [ -z "${KEYLESS_BIN:-}" ]; then
  echo "building: cargo build --release -p keyless (fat LTO: this takes minutes)" >&2
  cargo build --release -p keyless
fi

exec "$venv/bin/python" "$main" "$@"
