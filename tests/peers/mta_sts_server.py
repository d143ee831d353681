#!/usr/bin/env python3
"""An HTTPS server for MTA-STS policy files (RFC 8461 §3.3), for the end-to-end tests.

    mta_sts_server.py --cert FILE --key FILE --dir DIR [--listen 127.0.0.1]

Serves DIR over HTTPS (python's http.server behind ssl) on a free port of the loopback
address given, and prints that port on the first line of standard output once listening.
`DIR/.well-known/mta-sts.txt` goes out as text/plain. When `DIR/redirect` exists, every
request gets a 301 to its content instead (a sender must not follow it). Each request's
path is appended to `DIR/requests.log`, so tests can count fetches.
"""
import argparse
import http.server
import os
import ssl
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--listen", default="127.0.0.1")
    args = parser.parse_args()
    root = os.path.abspath(args.dir)

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {".txt": "text/plain", "": "application/octet-stream"}

        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def do_GET(self):
            with open(os.path.join(root, "requests.log"), "a") as log:
                log.write(self.path + "\n")
            redirect = os.path.join(root, "redirect")
            if os.path.exists(redirect):
                with open(redirect) as f:
                    target = f.read().strip()
                self.send_response(301)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *a):
            pass

    if not args.listen.startswith("127.") and args.listen != "::1":
        sys.exit("loopback addresses only")
    server = http.server.ThreadingHTTPServer((args.listen, 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
