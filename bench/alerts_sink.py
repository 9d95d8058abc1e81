"""
An aiosmtpd handler for bench/alerts_bench.c: a sink that accepts every
message and checks what it got, so that the benchmark's figures are for mail
that really arrived, once each and in order.

    PYTHONPATH=bench /usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:PORT \
        -c alerts_sink.Count STATSFILE

On SIGUSR1 it writes what it counted since the last SIGUSR1 to STATSFILE
(a temporary file renamed over it) and starts counting afresh:

    {"messages": N, "recipients": N, "bytes": N, "duplicates": N,
     "out_of_order": N, "unmarked": N, "sessions": N}

"sessions" counts EHLO commands: one per connection from libcurl, swaks and
msmtp, so sessions / messages says how many connections a message cost.

A message's order key is its X-Sonae-Incident and whether it is the
incident's first mail (its Message-ID is the thread root,
"<incident.ID...") or a later one: the benchmark queues them in increasing
key order, so a key not above the one before is a message out of order or
sent twice.  A Message-ID seen before is a duplicate; a message without
both headers is "unmarked".  The work per message is a few bytes.find()
calls on the header, so the sink's CPU stays close to aiosmtpd's own.
(stdlib and Debian's python3-aiosmtpd only.)
"""
import json
import os
import re
import signal

_ID = re.compile(rb"\r\nMessage-ID:\s*(<[^>]*>)", re.IGNORECASE)
_INC = re.compile(rb"\r\nX-Sonae-Incident: (\d+)")


class Count:
    def __init__(self, path):
        self.path = path
        self.reset()
        signal.signal(signal.SIGUSR1, self.dump)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("alerts_sink.Count takes one argument: STATSFILE")
        return cls(args[0])

    def reset(self):
        self.messages = self.recipients = self.bytes = 0
        self.duplicates = self.out_of_order = self.unmarked = 0
        self.sessions = 0
        self.ids = set()
        self.last = (0, 0)

    def dump(self, signum, frame):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"messages": self.messages, "recipients": self.recipients,
                       "bytes": self.bytes, "duplicates": self.duplicates,
                       "out_of_order": self.out_of_order,
                       "unmarked": self.unmarked,
                       "sessions": self.sessions}, f)
        os.rename(tmp, self.path)
        self.reset()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.sessions += 1
        return responses

    async def handle_DATA(self, server, session, envelope):
        data = envelope.content
        head = b"\r\n" + data[:data.find(b"\r\n\r\n") + 2]
        self.messages += 1
        self.recipients += len(envelope.rcpt_tos)
        self.bytes += len(data)
        mid, inc = _ID.search(head), _INC.search(head)
        if mid is None or inc is None:
            self.unmarked += 1
            return "250 OK"
        if mid.group(1) in self.ids:
            self.duplicates += 1
        self.ids.add(mid.group(1))
        key = (int(inc.group(1)), 0 if mid.group(1).startswith(b"<incident.") else 1)
        if key <= self.last:
            self.out_of_order += 1
        self.last = key
        return "250 OK"
