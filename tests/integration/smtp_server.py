#!/usr/bin/python3
"""An SMTP relay for the tests: aiosmtpd (Debian python3-aiosmtpd 1.4) on
127.0.0.1, storing what it accepts in a Maildir like aiosmtpd's Mailbox
handler (headers X-MailFrom, X-RcptTo show the envelope).

    smtp_server.py --maildir DIR --port PORT [--plain]
                   [--tls-port PORT] [--cert FILE --key FILE]
                   [--user USER --password PASSWORD]
                   [--refuse ADDR] [--tempfail ADDR] [--delay-data SECONDS]
                   [--sessions FILE]

Without --plain the PORT listener offers STARTTLS with the certificate and
requires it, then requires AUTH (LOGIN or PLAIN) with USER and PASSWORD
before MAIL.  --tls-port adds a listener that speaks TLS from the first byte
(implicit TLS, "smtps") with the same certificate and requires the same AUTH.
--plain: no TLS, no AUTH.

--refuse ADDR answers RCPT TO:<ADDR> with 550, --tempfail ADDR with 450.
--delay-data waits that long before answering the end of DATA.  --sessions
FILE appends "HOST PORT" of the client for every MAIL FROM (a connection per
distinct port).  A message
accepted after AUTH gets a header "X-Auth: MECHANISM LOGIN".

Prints "ready PORT" for each listener once it serves; SIGTERM stops it.
"""
import argparse
import asyncio
import mailbox
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Relay(Mailbox):
    def __init__(self, args):
        super().__init__(args.maildir)
        self.args = args

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.args.sessions:
            # One line per message: the client's port names its connection.
            with open(self.args.sessions, "a") as f:
                f.write("%s %d\n" % (session.peer[0], session.peer[1]))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.args.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        if address == self.args.tempfail:
            return f"450 4.2.1 <{address}>: Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.args.delay_data > 0:
            await asyncio.sleep(self.args.delay_data)
        message = self.prepare_message(session, envelope)
        if session.auth_data is not None:
            mech, login = session.auth_data
            message["X-Auth"] = f"{mech} {login}"
        self.handle_message(message)
        return "250 2.0.0 Ok: queued"


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if (isinstance(auth_data, LoginPassword) and auth_data.login == self.user
                and auth_data.password == self.password):
            return AuthResult(success=True,
                              auth_data=(mechanism, auth_data.login.decode()))
        return AuthResult(success=False, handled=False)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--maildir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls-port", type=int)
    p.add_argument("--plain", action="store_true")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--refuse")
    p.add_argument("--tempfail")
    p.add_argument("--delay-data", type=float, default=0)
    p.add_argument("--sessions")
    args = p.parse_args()
    mailbox.Maildir(args.maildir)  # creates it
    handler = Relay(args)

    controllers = []
    if args.plain:
        controllers.append((args.port, Controller(
            handler, hostname="127.0.0.1", port=args.port)))
    else:
        if not (args.cert and args.key and args.user and args.password):
            p.error("--cert, --key, --user and --password are needed without --plain")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)
        auth = Authenticator(args.user, args.password)
        controllers.append((args.port, Controller(
            handler, hostname="127.0.0.1", port=args.port, tls_context=ctx,
            require_starttls=True, auth_required=True, authenticator=auth)))
        if args.tls_port:
            # The whole connection is TLS: aiosmtpd does not see it (it only
            # knows STARTTLS), so AUTH must not wait for a STARTTLS.
            controllers.append((args.tls_port, Controller(
                handler, hostname="127.0.0.1", port=args.tls_port,
                ssl_context=ctx, auth_required=True, auth_require_tls=False,
                authenticator=auth)))
    for port, c in controllers:
        c.start()
        # One write: a reader that stops at the line's end never gets EPIPE.
        sys.stdout.write(f"ready {port}\n")
        sys.stdout.flush()

    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.run_until_complete(stop.wait())
    for _, c in controllers:
        c.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
