#!/usr/bin/env bash
# Runs peerbench (/work/shared/peerbench, read-only) with keyless plugged in beside SeaweedFS,
# OpenBao (batch tokens) and moto, all in one run: same machine, same tokens, same wrk settings.
# Builds the release binary first unless KEYLESS_BIN is set. Results: stdout, and
# $PEERBENCH_OUT (default /tmp/keyless-peerbench-results)/latest.{md,json}; peerbench's own
# scratch is /tmp/peerbench-run/<stamp>/. Extra arguments go to peerbench (e.g. --conns 64).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peerbench="${PEERBENCH_DIR:-/work/shared/peerbench}"
cd "$repo"
if [ -z "${KEYLESS_BIN:-}" ]; then
  cargo build --release -p keyless
  export KEYLESS_BIN="$repo/target/release/keyless"
fi
export PEERBENCH_OUT="${PEERBENCH_OUT:-/tmp/keyless-peerbench-results}"
mkdir -p "$PEERBENCH_OUT"
export KEYLESS_CMD="$repo/bench/keyless-peer.sh {port} {issuer} {jwks_url} {aud} {sub} {account_id} {role_name} {scratch}"
export KEYLESS_VERSION="$(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- crates || echo ' (+ uncommitted changes)') $("$KEYLESS_BIN" --version)"
exec "$peerbench/run.sh" "$@" seaweedfs openbao-batch moto keyless
