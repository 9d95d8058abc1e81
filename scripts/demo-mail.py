#!/usr/bin/python3
"""
The demo's mail, read from the Maildir of its mail sink: scripts/demo.sh runs
tests/integration/smtp_server.py as the relay of etc/demo/sonae.conf, and
every mail sonaed sends lands as a file in MAILDIR/new.

usage: demo-mail.py MAILDIR       every mail, oldest first: number, time, To,
                                  Subject (decoded)
       demo-mail.py MAILDIR N     mail N of that list: From, To, Date, Subject,
                                  Message-ID, In-Reply-To (decoded) and the text

Mails are numbered in the order they arrived.  Subjects and names are RFC 2047
encoded on the wire (sonae's site name and titles may be Japanese) and the
text is base64 UTF-8: this shows them as they read.  Standard library only.
"""
import email
import email.policy
import email.utils
import os
import sys

HEADERS = ("From", "To", "Date", "Subject", "Message-ID", "In-Reply-To")


def mails(maildir):
    """The paths of MAILDIR/new, in arrival order: a Maildir name starts with
    the delivery time, and its mtime breaks no ties the name does not."""
    new = os.path.join(maildir, "new")
    names = [n for n in os.listdir(new) if not n.startswith(".")]
    paths = [os.path.join(new, n) for n in names]
    return sorted(paths, key=lambda p: (os.stat(p).st_mtime_ns, p))


def read(path):
    with open(path, "rb") as f:
        return email.message_from_binary_file(f, policy=email.policy.default)


def header(msg, name):
    """A header decoded (RFC 2047) and unfolded, or "-" when it is missing."""
    v = msg.get(name)
    return " ".join(str(v).split()) if v is not None else "-"


def when(msg):
    """The mail's Date as the site's clock read it: 2026-11-26 03:00:12."""
    try:
        return email.utils.parsedate_to_datetime(msg["Date"]).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return "????-??-?? ??:??:??"


def text(msg):
    part = msg.get_body(("plain",))
    if part is None:
        return "(no text part)\n"
    body = part.get_content()
    return body.replace("\r\n", "\n")


def main(argv):
    if len(argv) not in (2, 3) or (len(argv) == 3 and not argv[2].isdigit()):
        sys.stderr.write("usage: " + __doc__.split("usage: ")[1].split("\n\n")[0] + "\n")
        return 2
    try:
        paths = mails(argv[1])
    except OSError as e:
        sys.stderr.write("demo-mail: %s: %s\n" % (argv[1], e.strerror))
        return 1
    if len(argv) == 2:
        for i, p in enumerate(paths, 1):
            m = read(p)
            print("%3d  %s  %-32s %s" % (i, when(m), header(m, "To"), header(m, "Subject")))
        return 0
    n = int(argv[2])
    if not 1 <= n <= len(paths):
        sys.stderr.write("demo-mail: no mail %d in %s (%d there)\n" % (n, argv[1], len(paths)))
        return 1
    m = read(paths[n - 1])
    for name in HEADERS:
        print("%-12s %s" % (name + ":", header(m, name)))
    print()
    sys.stdout.write(text(m))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except BrokenPipeError:      # demo-mail.py DIR | head
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
