#!/usr/bin/env python3
"""An aiosmtpd server for the mxsend end-to-end tests: the easy real peer for AUTH and for chosen failures.

    python3 -u tests/peers/aiosmtpd_server.py --maildir DIR --log FILE [options]

Listens on --host (127.0.0.1) and --port (0: the kernel picks one), then prints one line

    READY <host> <port>

on stdout, which the Rust harness waits for. Options:

  --cert FILE --key FILE   offer STARTTLS with this certificate (aiosmtpd `tls_context`)
  --require-starttls       refuse everything but EHLO/NOOP/QUIT/STARTTLS before TLS
  --implicit-tls           TLS from the first byte instead of STARTTLS (RFC 8314); needs --cert/--key
  --auth USER:PASSWORD     offer AUTH PLAIN LOGIN and accept exactly this user and password
  --no-auth-require-tls    offer AUTH before TLS too (aiosmtpd's default is to require TLS)
  --auth-required          refuse MAIL until the client has authenticated
  --auth-exclude MECH      do not offer this AUTH mechanism (repeatable): `--auth-exclude PLAIN` offers LOGIN only
  --size N                 announce SIZE N and refuse larger messages (default: no SIZE extension)
  --smtputf8               announce SMTPUTF8
  --dsn                    announce DSN and accept (and log) its parameters: NOTIFY and ORCPT on RCPT, RET and
                           ENVID on MAIL; nothing is ever sent back (aiosmtpd alone refuses every RCPT parameter
                           with 555). Note aiosmtpd upper-cases all parameters before the handler sees them.
  --requiretls             offer REQUIRETLS after STARTTLS (RFC 8689) and accept it on MAIL
  --hostname NAME          name in the greeting and EHLO reply (default: mx.example.test)
  --greylist SECS          greylisting: answer 451 4.7.1 to RCPT for a (sender, recipient, client address)
                           triple first seen less than SECS seconds ago (the first attempt always)

Recipients are chosen by local part, so one server can accept some and refuse others:
  reject*      550 5.1.1 no such user          (permanent, at RCPT)
  defer*       451 4.3.0 try later             (temporary, at RCPT)
  datareject*  accepted at RCPT, but the DATA reply is 554 5.6.0 (so nothing is stored)
  anything else is accepted and every accepted message is written into the Maildir --maildir DIR
  (DIR/new/), byte for byte as received after dot-unstuffing.

Every transaction that reaches the end of DATA is appended to --log as one JSON object per line:
  {"mail_from", "mail_options", "rcpt_tos", "rcpt_options", "rcpts": [{"address", "options", "reply"}],
   "smtputf8", "size", "tls", "auth_user", "data_reply"}
`rcpts` lists every RCPT attempt with the reply it got; `rcpt_tos`/`rcpt_options` only the accepted ones.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


# RFC 3461 parameters that --dsn makes acceptable.
DSN_PARAMS = {"NOTIFY", "ORCPT", "RET", "ENVID"}


class DsnSMTP(SMTP):
    """aiosmtpd's SMTP, but the DSN parameters count as recognized (so MAIL/RCPT do not answer 555)."""

    accepted = DSN_PARAMS

    def _getparams(self, params):
        result = super()._getparams(params)
        if result is None:
            return None
        return {k: v for k, v in result.items() if k not in self.accepted}


class RequireTlsSMTP(DsnSMTP):
    """Also REQUIRETLS (RFC 8689): offered in the EHLO reply after STARTTLS, accepted on MAIL."""

    accepted = DSN_PARAMS | {"REQUIRETLS"}


class TestHandler:
    """Accepts or refuses recipients by local part, stores messages in a Maildir, logs envelopes."""

    def __init__(self, maildir, log_path, dsn=False, greylist=None, requiretls=False):
        self.requiretls = requiretls
        self.greylist = greylist
        self.first_seen = {}
        self.maildir = maildir
        self.log_path = log_path
        self.dsn = dsn
        self.counter = 0
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.dsn:
            responses.insert(len(responses) - 1, "250-DSN")
        if self.requiretls and server.session.ssl is not None:
            responses.insert(len(responses) - 1, "250-REQUIRETLS")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        # aiosmtpd keeps only accepted recipients; tests also want to see the refused ones.
        envelope.rcpt_attempts = []
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.rsplit("@", 1)[0].lower()
        triple = (envelope.mail_from, address.lower(), session.peer[0] if session.peer else "")
        first = self.first_seen.setdefault(triple, time.monotonic())
        if self.greylist is not None and time.monotonic() - first < self.greylist:
            reply = "451 4.7.1 greylisted, try again later"
        elif local.startswith("reject"):
            reply = "550 5.1.1 no such user"
        elif local.startswith("defer"):
            reply = "451 4.3.0 try later"
        else:
            reply = "250 2.1.5 OK"
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        attempts = getattr(envelope, "rcpt_attempts", [])
        attempts.append({"address": address, "options": list(rcpt_options), "reply": reply})
        envelope.rcpt_attempts = attempts
        return reply

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or b""
        if any(r.rsplit("@", 1)[0].lower().startswith("datareject") for r in envelope.rcpt_tos):
            reply = "554 5.6.0 message refused"
        else:
            self._store(content)
            reply = "250 2.0.0 OK: stored"
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        auth_user = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            auth_user = session.auth_data.login.decode("utf-8", "replace")
        record = {
            "mail_from": envelope.mail_from,
            "mail_options": list(envelope.mail_options),
            "rcpt_tos": list(envelope.rcpt_tos),
            "rcpt_options": list(envelope.rcpt_options),
            "rcpts": getattr(envelope, "rcpt_attempts", []),
            "smtputf8": bool(envelope.smtp_utf8),
            "size": len(content),
            "tls": tls,
            "auth_user": auth_user,
            "data_reply": reply,
        }
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
        return reply

    def _store(self, content):
        # The Maildir protocol: write under tmp/, then rename into new/ so a reader never sees half a file.
        self.counter += 1
        name = "%d.P%dQ%d.mx.example.test" % (time.time_ns(), os.getpid(), self.counter)
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(content)
        os.rename(tmp, os.path.join(self.maildir, "new", name))


def make_authenticator(user, password):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        if ok:
            # Returning the credentials makes them session.auth_data, which the log reports as auth_user.
            return AuthResult(success=True, auth_data=auth_data)
        # handled=False: aiosmtpd then sends 535 5.7.8 itself (handled=True would leave the client waiting).
        return AuthResult(success=False, handled=False)

    return authenticator


async def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--maildir", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--auth")
    p.add_argument("--no-auth-require-tls", action="store_true")
    p.add_argument("--auth-required", action="store_true")
    p.add_argument("--auth-exclude", action="append", default=[])
    p.add_argument("--size", type=int)
    p.add_argument("--smtputf8", action="store_true")
    p.add_argument("--dsn", action="store_true")
    p.add_argument("--requiretls", action="store_true")
    p.add_argument("--hostname", default="mx.example.test")
    p.add_argument("--greylist", type=float)
    a = p.parse_args()

    tls = None
    if a.cert or a.key:
        if not (a.cert and a.key):
            p.error("--cert and --key go together")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.cert, a.key)
    if (a.implicit_tls or a.require_starttls) and tls is None:
        p.error("--implicit-tls and --require-starttls need --cert and --key")

    kwargs = dict(
        hostname=a.hostname,
        data_size_limit=a.size,
        enable_SMTPUTF8=a.smtputf8,
        decode_data=False,
        auth_required=a.auth_required,
        # With implicit TLS aiosmtpd does not know the connection is encrypted; it is, so allow AUTH.
        auth_require_tls=not (a.no_auth_require_tls or a.implicit_tls),
    )
    if tls is not None and not a.implicit_tls:
        kwargs.update(tls_context=tls, require_starttls=a.require_starttls)
    if a.auth:
        user, sep, password = a.auth.partition(":")
        if not sep:
            p.error("--auth wants USER:PASSWORD")
        kwargs["authenticator"] = make_authenticator(user, password)
        kwargs["auth_exclude_mechanism"] = [m.upper() for m in a.auth_exclude]

    handler = TestHandler(a.maildir, a.log, dsn=a.dsn, greylist=a.greylist, requiretls=a.requiretls)
    smtp_class = RequireTlsSMTP if a.requiretls else DsnSMTP if a.dsn else SMTP
    loop = asyncio.get_running_loop()
    # A plain asyncio server rather than aiosmtpd's Controller: the Controller needs the port up front
    # (it connects to itself to start), while port 0 lets the kernel pick a free one without a race.
    server = await loop.create_server(
        lambda: smtp_class(handler, loop=loop, **kwargs),
        host=a.host,
        port=a.port,
        ssl=tls if a.implicit_tls else None,
    )
    host, port = server.sockets[0].getsockname()[:2]
    print("READY %s %d" % (host, port), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
