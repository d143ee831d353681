#!/usr/bin/env python3
"""Independent parser for the message round-trip test (core/tests/message_roundtrip.rs).

    parse_message.py MESSAGE_FILE     -> JSON of what Python's `email` package (policy.default)
                                         decodes from the message
    parse_message.py --sha256 FILE... -> JSON list of the files' sha256 hex digests

Output is `json.dumps(..., ensure_ascii=True, sort_keys=True, separators=(",", ":"))` so the
Rust side can compare it with the JSON it builds from what it gave the writer.
"""

import hashlib
import json
import sys
from email import policy
from email.parser import BytesParser


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def utf8(text):
    """Raw UTF-8 in a header (RFC 6532, e.g. an SMTPUTF8 address) comes out of the parser
    as surrogate escapes; turn them back into the characters."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeDecodeError:
        return text


def addresses(msg, name):
    header = msg[name]
    if header is None:
        return []
    return [[utf8(a.display_name), utf8(a.addr_spec)] for a in header.addresses]


def text(part):
    return part.get_content().replace("\r\n", "\n")


def defects(msg):
    found = [type(d).__name__ for d in msg.defects]
    for part in msg.walk():
        if part is not msg:
            found.extend(type(d).__name__ for d in part.defects)
    return found


def parse(path):
    with open(path, "rb") as f:
        msg = BytesParser(policy=policy.default).parse(f)
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    attachments = []
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True) or b""
        attachments.append(
            {
                "content_type": part.get_content_type(),
                "filename": part.get_filename(),
                "sha256": sha256(data),
                "size": len(data),
            }
        )
    extra = {}
    for name in ("X-Mailer", "X-Note"):
        if msg[name] is not None:
            extra[name] = str(msg[name])
    return {
        "attachments": attachments,
        "bcc": msg["Bcc"],
        "cc": addresses(msg, "Cc"),
        "date": str(msg["Date"]),
        "defects": defects(msg),
        "extra": extra,
        "from": addresses(msg, "From"),
        "html": text(html) if html is not None else None,
        "message_id": str(msg["Message-ID"]),
        "mime_version": str(msg["MIME-Version"]),
        "plain": text(plain) if plain is not None else None,
        "reply_to": addresses(msg, "Reply-To"),
        "subject": str(msg["Subject"]) if msg["Subject"] is not None else None,
        "to": addresses(msg, "To"),
    }


def main(argv):
    if len(argv) >= 2 and argv[1] == "--sha256":
        result = []
        for path in argv[2:]:
            with open(path, "rb") as f:
                result.append(sha256(f.read()))
    elif len(argv) == 2:
        result = parse(argv[1])
    else:
        sys.stderr.write(__doc__)
        return 2
    print(json.dumps(result, ensure_ascii=True, sort_keys=True, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
