#!/usr/bin/env python3
"""Verify every DKIM-Signature of a message with dkimpy, fetching keys from one DNS server.

    dkimpy_verify.py DNS_IP DNS_PORT MESSAGE_FILE

Prints one JSON line: {"signatures": N, "results": [{"d":..., "s":..., "a":..., "ok": bool}]}.
Keys come from the test dnsmasq (dnspython with that one nameserver), never the system resolver.
Ed25519 (RFC 8463) needs PyNaCl, which scripts/install-peers installs.
"""
import json
import sys

import dkim
import dns.resolver


def main():
    ip, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [ip]
    resolver.port = port

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        answer = resolver.resolve(name, "TXT", lifetime=timeout)
        return b"".join(b"".join(rr.strings) for rr in answer)

    with open(path, "rb") as f:
        message = f.read()
    verifier = dkim.DKIM(message)
    count = sum(1 for h in verifier.headers if h[0].lower() == b"dkim-signature")
    results = []
    for index in range(count):
        ok = verifier.verify(idx=index, dnsfunc=dnsfunc)
        sig = verifier.signature_fields or {}
        results.append({
            "d": sig.get(b"d", b"").decode(),
            "s": sig.get(b"s", b"").decode(),
            "a": sig.get(b"a", b"").decode(),
            "ok": bool(ok),
        })
    print(json.dumps({"signatures": count, "results": results}))


if __name__ == "__main__":
    main()
