#!/usr/bin/env python3
"""Shares of the server's CPU by stage of a request, from a `perf record -g` profile.

Usage: bench/perf-shares.py <perf.data> [<us per request>]

Reads `perf script` output and puts each sample into the first bucket (in the order below) that
one of its frames belongs to; samples in none of them are HTTP, routing, the runtime and other
work. Frame names are compared with their generic arguments removed, so that a frame is only
counted for the function it is, not for the types it is instantiated with. With the server's CPU
microseconds per request (from bench/run.sh), each share is also shown in microseconds.
"""

import collections
import re
import subprocess
import sys

BUCKETS = [
    ("RS256 verification (aws-lc)", r"keyless_oidc::jwks::VerificationKey::verify_signature"),
    ("writing the response (writev: loopback transmit, waking the client)", r"write_vectored|writev"),
    ("reading the request (read, recv)", r"::read\b|poll_read|recvfrom|tcp_recvmsg"),
    ("waiting for events (epoll)", r"epoll|mio::poll"),
    ("audit thread", r"keyless_server::audit::drain"),
    ("JWT decode", r"keyless_oidc::jwt::decode"),
    ("minting and sealing the session", r"keyless_sts::session::mint"),
    ("trust-policy context", r"keyless_sts::web_identity::trust_context"),
    ("trust-policy evaluation", r"keyless_policy::"),
    ("XML rendering", r"keyless_sts::web_identity::render|keyless_sts::xml::"),
    ("audit event", r"keyless_server::audit::"),
    ("metrics", r"^<?metrics|keyless_server::metrics"),
    ("parameters (form parsing, validation)", r"keyless_sts::query::|WebIdentityParams::from_query"),
    ("SigV4 verification", r"keyless_credentials::sigv4"),
    ("unsealing the session token", r"keyless_credentials::session::SealingKeyring::open"),
]
OTHER = "HTTP (hyper, axum), the runtime, allocation outside the stages above, other"


def strip_generics(name):
    """`poll<hyper::X<Y>>` -> `poll`; a leading `<T as Trait<U>>` keeps `<T as Trait>`."""
    out = []
    depth = 0
    for i, c in enumerate(name):
        if c == "<" and (depth > 0 or (i > 0 and (name[i - 1].isalnum() or name[i - 1] in "_:"))):
            depth += 1
            continue
        if c == ">" and depth > 0:
            depth -= 1
            continue
        if depth == 0:
            out.append(c)
    return "".join(out)


def samples(path):
    script = subprocess.run(["perf", "script", "-i", path, "-F", "ip,sym"], check=True,
                            capture_output=True, text=True).stdout
    stack = []
    for line in script.splitlines():
        if not line.strip():
            if stack:
                yield stack
            stack = []
            continue
        parts = line.strip().split(None, 1)
        stack.append(strip_generics(parts[1]) if len(parts) > 1 else "")
    if stack:
        yield stack


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    us_per_request = float(sys.argv[2]) if len(sys.argv) == 3 else None
    rules = [(name, re.compile(pattern)) for name, pattern in BUCKETS]
    counts = collections.Counter()
    total = 0
    for stack in samples(sys.argv[1]):
        total += 1
        bucket = next((name for name, rule in rules if any(rule.search(f) for f in stack)), OTHER)
        counts[bucket] += 1
    if total == 0:
        sys.exit("no samples")
    print(f"{total} samples\n")
    print("| where | share |" + (" ~us per request |" if us_per_request else ""))
    print("|---|---|" + ("---|" if us_per_request else ""))
    for name, n in counts.most_common():
        share = n / total
        row = f"| {name} | {100 * share:.1f}% |"
        if us_per_request:
            row += f" {share * us_per_request:.1f} |"
        print(row)


if __name__ == "__main__":
    main()
