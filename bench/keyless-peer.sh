#!/usr/bin/env bash
# Starts keyless as the `keyless` peer of peerbench (see bench/peers.sh): writes a config that
# trusts peerbench's issuer, then execs `keyless serve` (same PID, so peerbench measures the
# server itself). Arguments are peerbench's placeholders:
#   keyless-peer.sh PORT ISSUER JWKS_URL AUD SUB ACCOUNT_ID ROLE_NAME SCRATCH
set -euo pipefail
if [ "$#" -ne 8 ]; then
  echo "usage: $0 PORT ISSUER JWKS_URL AUD SUB ACCOUNT_ID ROLE_NAME SCRATCH" >&2
  exit 2
fi
port=$1 issuer=$2 jwks_url=$3 aud=$4 sub=$5 account=$6 role=$7 scratch=$8
bin="${KEYLESS_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/release/keyless}"
host_path="${issuer#http://}"
host_path="${host_path#https://}"
mkdir -p "$scratch/data"
cat > "$scratch/keyless.toml" <<TOML
[server]
account_id = "$account"

# peerbench's issuer: plain http on loopback, keys from its JWKS URL.
[[provider]]
url = "$issuer"
client_ids = ["$aud"]
jwks_url = "$jwks_url"

[[role]]
name = "$role"
trust_policy = '''
{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Principal": { "Federated": "arn:aws:iam::$account:oidc-provider/$host_path" },
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": { "StringEquals": { "$host_path:aud": "$aud", "$host_path:sub": "$sub" } }
  }]
}
'''
TOML
exec "$bin" serve --config "$scratch/keyless.toml" --data-dir "$scratch/data" --listen "127.0.0.1:$port"
