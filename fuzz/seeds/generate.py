#!/usr/bin/env python3
"""Write the committed seed corpora in fuzz/seeds/<target>/ from realistic server transcripts.

The transcripts are modelled on what real servers send (Postfix 3.7, Postfix's smtp-sink,
aiosmtpd 1.4.6, a Gmail-like submission server). Run from anywhere; it rewrites the seed
files it owns (names starting with a letter) and leaves regression seeds (`crash-*`,
`regression-*`) alone. run.sh copies seeds/<target>/ into corpus/<target>/ before fuzzing.

Input layouts are documented at the top of each fuzz target.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))

# --- server transcripts: a list of segments; each segment is fed whole, and a break
# (session target: an 0xFF escape) separates them where the client must act in between
# (after 354 the client sends the body; after STARTTLS's 220 it does the handshake).

GREETING_POSTFIX = b"220 mx.example.test ESMTP Postfix (Debian/GNU)\r\n"
EHLO_POSTFIX = (
    b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
    b"250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
    b"250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
)
EHLO_POSTFIX_TLS = (
    b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
    b"250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n"
    b"250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
)
EHLO_SINK = (
    b"250-sink.example.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n"
    b"250-XCLIENT NAME HELO\r\n250-XFORWARD NAME ADDR PROTO HELO\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250 \r\n"
)
EHLO_AIOSMTPD = b"250-host.example\r\n250-8BITMIME\r\n250 HELP\r\n"
EHLO_AIOSMTPD_STARTTLS = (
    b"250-host.example\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    b"250-STARTTLS\r\n250 HELP\r\n"
)
EHLO_AIOSMTPD_TLS = (
    b"250-host.example\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    b"250-AUTH LOGIN PLAIN\r\n250 HELP\r\n"
)
EHLO_GMAIL = (
    b"250-smtp.gmail.com at your service, [192.0.2.1]\r\n250-SIZE 35882577\r\n"
    b"250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n"
    b"250-CHUNKING\r\n250 SMTPUTF8\r\n"
)
EHLO_GMAIL_TLS = (
    b"250-smtp.gmail.com at your service, [192.0.2.1]\r\n250-SIZE 35882577\r\n"
    b"250-8BITMIME\r\n250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n"
)
TLS_READY = b"220 2.0.0 Ready to start TLS\r\n"
BYE = b"221 2.0.0 Bye\r\n"

# A session script: (config byte, piece byte, [segments]); a segment is bytes, or a tuple
# naming an escape: ("t",) TLS up, ("c", n) clock +4n s, ("d",) jump to the deadline,
# ("e",) EOF, ("w", n) write cap, ("b",) a plain break.
TLS = ("t",)
BRK = ("b",)

# Config bits: 0-1 policy (0 Disabled, 1 Opportunistic, 2 Required, 3 Implicit),
# 4 pipelining, 8 chunking, 16 credentials, 32 allow_plaintext_auth, 64 OAuth token,
# 128 the richer second envelope.
DISABLED, OPPORTUNISTIC, REQUIRED, IMPLICIT = 0, 1, 2, 3
PIPE, CHUNK, CREDS, PLAIN_AUTH, OAUTH, RICH = 4, 8, 16, 32, 64, 128

SESSIONS = {
    "postfix-starttls-pipelining": (OPPORTUNISTIC | PIPE, 0, [
        GREETING_POSTFIX, EHLO_POSTFIX, TLS_READY, TLS, EHLO_POSTFIX_TLS,
        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n", BRK,
        b"250 2.0.0 Ok: queued as 4F2A1\r\n250 2.1.0 Ok\r\n"
        b"550 5.1.1 <dave@example.test>: Recipient address rejected: User unknown in virtual mailbox table\r\n"
        b"250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n", BRK,
        b"250 2.0.0 Ok: queued as 4F2A2\r\n" + BYE,
    ]),
    "postfix-required-auth-rich": (REQUIRED | PIPE | CREDS | RICH, 7, [
        GREETING_POSTFIX, EHLO_POSTFIX, TLS_READY, TLS, EHLO_POSTFIX_TLS,
        b"235 2.7.0 Authentication successful\r\n",
        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n", BRK,
        b"250 2.0.0 Ok: queued as 4F2A1\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
        b"250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n", BRK,
        b"250 2.0.0 Ok: queued as 4F2A2\r\n" + BYE,
    ]),
    "postfix-chunking": (OPPORTUNISTIC | PIPE | CHUNK, 0, [
        GREETING_POSTFIX, EHLO_POSTFIX, TLS_READY, TLS, EHLO_POSTFIX_TLS,
        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n", BRK,
        b"250 2.0.0 Ok: 38 bytes\r\n250 2.0.0 Ok: 50 bytes\r\n250 2.0.0 Ok: queued as 4F2A1\r\n", BRK,
        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n", BRK,
        b"250 2.0.0 Ok: 38 bytes\r\n250 2.0.0 Ok: 50 bytes\r\n250 2.0.0 Ok: queued as 4F2A2\r\n" + BYE,
    ]),
    "postfix-starttls-injection": (OPPORTUNISTIC | PIPE, 0, [
        GREETING_POSTFIX, EHLO_POSTFIX, TLS_READY + b"250-injected\r\n250 PIPELINING\r\n",
    ]),
    "required-without-starttls": (REQUIRED | PIPE | CREDS | PLAIN_AUTH, 0, [
        b"220 mx.example.test ESMTP\r\n", EHLO_SINK, BYE,
    ]),
    "required-starttls-refused": (REQUIRED | PIPE, 0, [
        GREETING_POSTFIX, EHLO_POSTFIX, b"454 4.7.0 TLS not available due to local problem\r\n", BYE,
    ]),
    "smtp-sink-auth-plaintext": (DISABLED | PIPE | CREDS | PLAIN_AUTH, 0, [
        b"220 sink.example.test ESMTP\r\n", EHLO_SINK,
        b"235 2.0.0 Authentication successful\r\n",
        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n", BRK,
        b"250 2.0.0 Ok: queued as ABC\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
        b"250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n", BRK,
        b"250 2.0.0 Ok: queued as ABD\r\n" + BYE,
    ]),
    "smtp-sink-rcpt-4xx-then-421": (OPPORTUNISTIC | PIPE, 5, [
        b"220 sink.example.test ESMTP\r\n", EHLO_SINK,
        b"250 2.1.0 Ok\r\n450 4.1.1 Error: command failed\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n", BRK,
        b"250 2.0.0 Ok: queued as ABC\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
        b"421 4.4.2 sink.example.test Error: timeout exceeded\r\n",
    ]),
    "smtp-sink-all-rcpt-rejected": (DISABLED | PIPE, 0, [
        b"220 sink.example.test ESMTP\r\n", EHLO_SINK,
        b"250 2.1.0 Ok\r\n550 5.1.1 Error: command failed\r\n550 5.1.1 Error: command failed\r\n"
        b"554 5.5.1 Error: no valid recipients\r\n", BRK,
        b"250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n", BRK,
        b"250 2.0.0 Ok: queued\r\n" + BYE,
    ]),
    "smtp-sink-disconnect-after-data": (DISABLED | PIPE, 0, [
        b"220 sink.example.test ESMTP\r\n", EHLO_SINK,
        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n", BRK,
        ("e",),
    ]),
    "aiosmtpd-lock-step": (DISABLED, 0, [
        b"220 host.example Python SMTP 1.4.6\r\n", EHLO_AIOSMTPD,
        b"250 OK\r\n250 OK\r\n250 OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n", BRK,
        b"250 OK\r\n250 OK\r\n250 OK\r\n550 not relaying to that domain\r\n250 OK\r\n"
        b"354 End data with <CR><LF>.<CR><LF>\r\n", BRK,
        b"250 OK\r\n221 Bye\r\n",
    ]),
    "aiosmtpd-required-login": (REQUIRED | CREDS, 3, [
        b"220 host.example Python SMTP 1.4.6\r\n", EHLO_AIOSMTPD_STARTTLS,
        b"220 Ready to start TLS\r\n", TLS, EHLO_AIOSMTPD_TLS,
        b"235 2.7.0 Authentication successful\r\n",
        b"250 OK\r\n250 OK\r\n250 OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n", BRK,
        b"250 OK\r\n250 OK\r\n250 OK\r\n250 OK\r\n250 OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n", BRK,
        b"250 OK\r\n221 Bye\r\n",
    ]),
    "aiosmtpd-auth-login-challenges": (IMPLICIT | CREDS, 0, [
        b"220 host.example Python SMTP 1.4.6\r\n", EHLO_AIOSMTPD_TLS.replace(b"LOGIN PLAIN", b"LOGIN"),
        b"334 VXNlcm5hbWU6\r\n", b"334 UGFzc3dvcmQ6\r\n", b"235 2.7.0 Authentication successful\r\n",
        b"250 OK\r\n250 OK\r\n250 OK\r\n354 End data\r\n", BRK, b"250 OK\r\n",
        ("c", 255), ("d",),
    ]),
    "aiosmtpd-helo-fallback": (OPPORTUNISTIC, 0, [
        b"220 host.example Python SMTP 1.4.6\r\n",
        b"500 Error: command \"EHLO\" not recognized\r\n", b"250 host.example\r\n",
        b"250 OK\r\n250 OK\r\n250 OK\r\n354 End data\r\n", BRK, b"250 OK\r\n" + BYE,
    ]),
    "gmail-xoauth2-pipelining": (REQUIRED | PIPE | CREDS | OAUTH | RICH, 0, [
        b"220 smtp.gmail.com ESMTP a1-20020a05600c.123 - gsmtp\r\n", EHLO_GMAIL, TLS_READY, TLS,
        EHLO_GMAIL_TLS, b"235 2.7.0 Accepted\r\n",
        b"250 2.1.0 OK a1-20020a05600c.123 - gsmtp\r\n250 2.1.5 OK a1-20020a05600c.123 - gsmtp\r\n"
        b"250 2.1.5 OK a1-20020a05600c.123 - gsmtp\r\n354  Go ahead a1-20020a05600c.123 - gsmtp\r\n", BRK,
        b"250 2.0.0 OK  1700000000 a1-20020a05600c.123 - gsmtp\r\n"
        b"250 2.1.0 OK a1 - gsmtp\r\n250 2.1.5 OK a1 - gsmtp\r\n"
        b"553-5.1.3 The recipient address <\xe7\x94\xa8\xe6\x88\xb7@example.test> is not a valid RFC 5321\r\n"
        b"553 5.1.3 address. For more information, go to https://support.google.com/a/answer/3221692\r\n"
        b"250 2.1.5 OK a1 - gsmtp\r\n354  Go ahead a1 - gsmtp\r\n", BRK,
        b"250 2.0.0 OK  1700000001 a1 - gsmtp\r\n221 2.0.0 closing connection a1 - gsmtp\r\n",
    ]),
    "gmail-xoauth2-refused": (REQUIRED | PIPE | CREDS | OAUTH, 0, [
        b"220 smtp.gmail.com ESMTP a1-20020a05600c.123 - gsmtp\r\n", EHLO_GMAIL, TLS_READY, TLS,
        EHLO_GMAIL_TLS,
        b"334 eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==\r\n",
        b"535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
        b"535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1 - gsmtp\r\n",
    ]),
    "gmail-chunking": (IMPLICIT | PIPE | CHUNK | RICH, 0, [
        b"220 smtp.gmail.com ESMTP a1 - gsmtp\r\n", EHLO_GMAIL_TLS,
        b"250 2.1.0 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n", BRK,
        b"250 2.0.0 OK\r\n250 2.0.0 OK\r\n250 2.0.0 OK  1700000000 a1 - gsmtp\r\n", BRK,
        b"250 2.1.0 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n", BRK,
        b"250 2.0.0 OK\r\n250 2.0.0 OK\r\n250 2.0.0 OK  1700000001 a1 - gsmtp\r\n" + BYE,
    ]),
    "greeting-timeout": (OPPORTUNISTIC | PIPE, 0, [("c", 80)]),
    "slow-writes-then-data-timeout": (DISABLED | PIPE, 1, [
        ("w", 3), b"220 mx ESMTP\r\n", EHLO_SINK,
        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n", BRK, ("c", 200), ("d",),
    ]),
    "greeting-554": (OPPORTUNISTIC, 0, [b"554 5.7.1 mx.example.test: no SMTP service here\r\n"]),
}


# Byte 1 bits: 6 defers the second transaction and QUIT until established, 7 hands the
# body over one octet at a time.
LATE, BYTEWISE = 64, 128
for name, late_name, bits in [
    ("postfix-starttls-pipelining", "postfix-late-second-transaction", LATE),
    ("gmail-chunking", "gmail-chunking-bytewise-body", BYTEWISE),
    ("aiosmtpd-lock-step", "aiosmtpd-late-and-bytewise", LATE | BYTEWISE),
]:
    config, piece, segments = SESSIONS[name]
    SESSIONS[late_name] = (config, piece | bits, segments)


def session_bytes(config, piece, segments):
    out = bytearray([config, piece])
    for segment in segments:
        if isinstance(segment, tuple):
            op = segment[0]
            out += b"\xff" + {"b": b"."}.get(op, op.encode())
            if op in ("c", "w"):
                out.append(segment[1])
        else:
            out += segment
    return bytes(out)


def server_stream(segments):
    return b"".join(s for s in segments if not isinstance(s, tuple))


EHLOS = {
    "postfix": EHLO_POSTFIX,
    "postfix-tls": EHLO_POSTFIX_TLS,
    "smtp-sink": EHLO_SINK,
    "aiosmtpd": EHLO_AIOSMTPD,
    "aiosmtpd-starttls": EHLO_AIOSMTPD_STARTTLS,
    "aiosmtpd-tls": EHLO_AIOSMTPD_TLS,
    "gmail": EHLO_GMAIL,
    "gmail-tls": EHLO_GMAIL_TLS,
    "lowercase-tabs-auth-equals": (
        b"250-mx.example.test greets you\r\n250-pipelining\r\n250-size\t52428800\r\n"
        b"250-auth=login plain\r\n250-Auth CRAM-MD5 plain\r\n250-x-exps gssapi ntlm\r\n250 size junk\r\n"
    ),
}

ADDRESSES = [
    b"alice@example.org", b"<bob@example.test>", b"\"john.smith\"@Example.COM.",
    b"\"john smith\"@example.com", b"\"a\\\"b\\\\c\"@example.com",
    b"\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe6\xb5\x8b\xe8\xaf\x95",
    b"user@[192.0.2.1]", b"user@[IPv6:2001:db8::1]", b"user@[IPv6:::ffff:192.0.2.1]",
    b"<@relay.example:user@example.com>", b"<>", b"", b"a\r\nRCPT TO:<x@y>@example.com",
    b"x@-bad-.example", b"first.last+tag@sub.example.co.uk", b"a@" + b"l" * 63 + b".example",
    b"o'hare@example.ie", b"user@xn--bcher-kva.example", b"user@[010.0.0.1]", b"user@example..com",
]

BODIES = [
    b"Subject: hi\n\nhello\n", b"\r\n.\r\n", b".\r\n", b"a\n.\nb", b"a\r.\rb", b"\r\n.\n",
    b"line\r", b"..double\r\n...\r\n", b"\r\r\n\n\r", b"8-bit \xc3\xa9t\xc3\xa9\r\n",
    b"From: a@example.org\r\nTo: b@example.test\r\nSubject: x\r\n\r\n.\r\nQUIT\r\n",
]


def write(target, name, data):
    directory = os.path.join(HERE, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    for name, (config, piece, segments) in SESSIONS.items():
        write("session", name, session_bytes(config, piece, segments))
        stream = server_stream(segments)
        # reply_parser: default limits, one chunk; then small pieces; then small limits.
        write("reply_parser", name, b"\x00\x00" + stream)
        write("reply_parser", name + "-pieces", b"\x00\x03\x00\x07\x02" + stream)
        write("reply_parser", name + "-small-limits", b"\x80\x40\x05\x20\x01\x0b" + stream)
        write("capabilities", name, stream)
    for name, ehlo in EHLOS.items():
        write("capabilities", "ehlo-" + name, ehlo)
    for i, address in enumerate(ADDRESSES):
        write("address", "address-%02d" % i, address)
    for i, body in enumerate(BODIES):
        write("data_encoder", "data-%02d" % i, b"\x00\x02\x00\x03" + body)
        write("data_encoder", "bdat-%02d" % i, b"\x01\x00" + body)


if __name__ == "__main__":
    main()
