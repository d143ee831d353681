#!/usr/bin/env python3
"""Python smtplib's side of the end-to-end throughput benchmark (scripts/bench-e2e).

    smtplib-bench.py HOST PORT MESSAGE_FILE COUNT

One smtplib.SMTP connection, sendmail() in a loop with the file's bytes as given (smtplib
does not pipeline: one round trip per command). Fails unless every message is accepted.
"""
import smtplib
import sys
import time


def main():
    host, port, path, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    with open(path, "rb") as f:
        content = f.read()
    started = time.perf_counter()
    with smtplib.SMTP(host, port) as smtp:
        for _ in range(count):
            refused = smtp.sendmail("sender@example.test", ["rcpt@example.test"], content)
            if refused:
                sys.exit("smtplib-bench: refused: %r" % (refused,))
    seconds = time.perf_counter() - started
    print("messages %d seconds %.3f per_second %.0f" % (count, seconds, count / seconds))


if __name__ == "__main__":
    main()
