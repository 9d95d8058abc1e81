"""
The control socket under bad clients, and the CLI's exit codes.

Each misbehaving client gets one negative status line and the connection is
closed; afterwards sonaed still answers everyone else.  A flood of
connections beyond control.max_per_uid is refused with a reply while an
existing connection keeps working.  `sonae` exits 0 on success, 1 when
refused or failed, 2 on usage errors, and --json output is JSON.
"""
import time
import unittest

from harness import (ST_FAILED, ST_PROTOCOL, ST_USAGE, Conn, OneDaemon, sonae,
                     wait_until)

MAX_LINE = 256
MAX_PER_UID = 4


class ControlSocket(OneDaemon):
    # The point is that this one daemon survives every bad client.
    control = {"max_line": MAX_LINE, "idle_timeout": 1, "max_per_uid": MAX_PER_UID}

    def setUp(self):
        self.assertTrue(self.site.running(), "sonaed is gone:\n" + self.site.log_text())

    def tearDown(self):
        # After every bad client the daemon still serves others.
        self.still_serving()

    def still_serving(self):
        self.assertTrue(self.site.running(), "sonaed died:\n" + self.site.log_text())
        r = self.site.sonae("status")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("devices   1: 1 ok", r.out)

    def bad_client(self, conn, status, text):
        """conn gets exactly one reply, (status, text), and is closed."""
        st, t = conn.reply()
        self.assertEqual((st, t), (status, text))
        self.assertTrue(conn.closed(), "the connection stayed open")

    # Before HELLO

    def test_garbage_before_hello(self):
        c = self.site.connect(self)
        c.send("status\n")
        self.bad_client(c, ST_PROTOCOL, "expected HELLO <version> first")

    def test_binary_garbage_before_hello(self):
        c = self.site.connect(self)
        c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n")
        self.bad_client(c, ST_PROTOCOL, "line too long or holds a NUL (limit %d bytes)" % MAX_LINE)

    def test_wrong_protocol_version(self):
        c = self.site.connect(self)
        c.send("HELLO 2\n")
        self.bad_client(c, ST_PROTOCOL, "unsupported protocol version (this sonaed speaks 1)")

    def test_hello_answer(self):
        c = self.site.connect(self)
        text = c.hello()
        self.assertRegex(text, r"^sonaed \S+ protocol 1 root\(0\) operator$")
        st, _, body = c.request("status")
        self.assertEqual(st, 1)
        self.assertEqual(body["caller"], {"actor": "root(0)", "operator": True})

    # After HELLO

    def test_binary_garbage_after_hello(self):
        c = self.site.connect(self)
        c.hello()
        c.send(b"status\x00\x01\x02\xff\n")
        self.bad_client(c, ST_PROTOCOL, "line too long or holds a NUL (limit %d bytes)" % MAX_LINE)

    def test_control_characters_after_hello(self):
        c = self.site.connect(self)
        c.hello()
        c.send(b"status\x1b[2J\n")
        self.bad_client(c, ST_PROTOCOL, "malformed request: control character at byte 7")

    def test_invalid_utf8_after_hello(self):
        c = self.site.connect(self)
        c.hello()
        c.send(b"device \xc3\x28\xff\xfe\n")
        self.bad_client(c, ST_PROTOCOL, "malformed request: request is not valid UTF-8")

    def test_bad_quoting_after_hello(self):
        c = self.site.connect(self)
        c.hello()
        c.send('device "ups\n')
        self.bad_client(c, ST_PROTOCOL, "malformed request: unterminated quote in word 2")

    def test_oversize_line(self):
        c = self.site.connect(self)
        c.hello()
        c.send("device " + "x" * (MAX_LINE * 8) + "\n")
        st, text = c.reply()
        self.assertEqual(st, ST_PROTOCOL)
        self.assertRegex(text, r"^line too long.* \(limit %d bytes\)$" % MAX_LINE)
        self.assertTrue(c.closed())

    def test_line_at_the_limit_is_served(self):
        """max_line bytes are fine, one more is not."""
        c = self.site.connect(self)
        c.hello()
        name = "x" * (MAX_LINE - len("device "))
        st, text, _ = c.request("device " + name)
        self.assertEqual((st, text), (ST_FAILED, 'no device "%s"' % name))
        c.send("device " + name + "y\n")
        st, text = c.reply()
        self.assertEqual(st, ST_PROTOCOL)
        self.assertTrue(c.closed())

    def test_oversize_line_without_newline(self):
        c = self.site.connect(self)
        c.hello()
        c.send("x" * (MAX_LINE * 4))
        self.bad_client(c, ST_PROTOCOL, "line too long (limit %d bytes)" % MAX_LINE)

    def test_half_line_then_shutdown(self):
        c = self.site.connect(self)
        c.hello()
        c.send("stat")
        c.shut_wr()
        self.bad_client(c, ST_PROTOCOL, "incomplete line at end of input")

    def test_half_line_then_silence(self):
        c = self.site.connect(self)
        c.hello()
        t0 = time.monotonic()
        c.send("stat")
        self.bad_client(c, ST_PROTOCOL, "idle timeout")
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.8)   # not before idle_timeout = 1s

    def test_silence_before_hello(self):
        c = self.site.connect(self)
        t0 = time.monotonic()
        self.bad_client(c, ST_PROTOCOL, "idle timeout")
        self.assertGreaterEqual(time.monotonic() - t0, 0.8)

    def test_many_requests_on_one_connection(self):
        c = self.site.connect(self)
        c.hello()
        for _ in range(20):
            st, text, body = c.request("devices")
            self.assertEqual((st, text), (1, "ok"))
            self.assertEqual([d["name"] for d in body["devices"]], ["ups"])
        # A bad request that is well-formed is refused without closing.
        self.assertEqual(c.request("frobnicate now")[:2], (ST_USAGE, 'unknown command "frobnicate"'))
        self.assertEqual(c.request("device")[:2], (ST_USAGE, "usage: device NAME [--history]"))
        self.assertEqual(c.request("device nope")[:2], (ST_FAILED, 'no device "nope"'))
        st, _, body = c.request("device ups")
        self.assertEqual(st, 1)
        self.assertEqual(body["name"], "ups")

    def test_connection_flood(self):
        keep = self.site.connect(self)
        keep.hello()
        others = []
        for _ in range(MAX_PER_UID - 1):
            c = self.site.connect(self)
            c.hello()
            others.append(c)
        # One more from the same uid is refused, with a reply.
        extra = Conn(self.site.sock)
        self.addCleanup(extra.close)
        self.bad_client(extra, ST_PROTOCOL, "too many connections from this user")
        # The connections already open keep working.
        st, _, body = keep.request("status")
        self.assertEqual(st, 1)
        self.assertEqual(body["clients"], MAX_PER_UID)
        self.assertEqual(others[0].request("devices")[0], 1)
        self.assertIn("control: uid 0 refused: too many connections from this user",
                      self.site.log_text())
        # Once they close, new clients are served again (tearDown checks).
        for c in others + [keep]:
            c.close()
        wait_until(lambda: self.site.sonae("status").rc == 0, what="a free connection slot")


class Cli(OneDaemon):

    def test_unknown_verb(self):
        r = self.site.sonae("frobnicate")
        self.assertEqual(r.rc, 2, r)
        self.assertTrue(r.err.startswith('sonae: unknown command "frobnicate"\nusage: sonae '), r)
        self.assertEqual(r.out, "")

    def test_usage_refused_by_the_daemon(self):
        """A request the CLI passes on but sonaed calls a usage error: exit 2."""
        r = self.site.sonae("audit", "--since", "yesterday-ish")
        self.assertEqual(r.rc, 2, r)
        self.assertTrue(r.err.startswith('sonae: --since "yesterday-ish": give a time'), r)

    def test_unknown_device(self):
        r = self.site.sonae("device", "nosuch")
        self.assertEqual((r.rc, r.out, r.err), (1, "", 'sonae: no device "nosuch"\n'))
        r = self.site.sonae("--json", "device", "nosuch")
        self.assertEqual((r.rc, r.out), (1, ""), r)
        r = self.site.sonae("poll", "nosuch")
        self.assertEqual((r.rc, r.err), (1, 'sonae: no device "nosuch"\n'), r)

    def test_usage_errors(self):
        cases = [
            (),                                  # no command
            ("device",),                         # missing argument
            ("device", "ups", "extra"),          # too many
            ("status", "--bogus"),               # unknown option
            ("audit", "--since"),                # option without its value
            ("poll",),
            ("--no-such-option", "status"),
            ("audit", "verify", "now"),
        ]
        for args in cases:
            with self.subTest(args=args):
                r = self.site.sonae(*args)
                self.assertEqual(r.rc, 2, r)
                self.assertEqual(r.out, "")
                self.assertIn("usage: sonae ", r.err)

    def test_no_daemon(self):
        r = sonae("-s", self.site.path("nowhere.sock"), "status")
        self.assertEqual(r.rc, 1, r)
        self.assertRegex(r.err, r"^sonae: cannot reach sonaed at .*nowhere\.sock: No such file")

    def test_help(self):
        r = sonae("--help")
        self.assertEqual(r.rc, 2, r)
        for verb in ("status", "devices", "device NAME", "validate [FILE]", "audit verify",
                     "reload", "poll NAME"):
            self.assertIn(verb, r.err)

    def test_json_outputs_parse(self):
        st = self.site.ok("status")
        self.assertEqual(st["site"], self.site.name)
        self.assertEqual(st["devices"], {"total": 1, "ok": 1, "missed": 0, "lost": 0,
                                         "pending": 0})
        self.assertEqual(st["config"], self.site.conf)
        self.assertEqual(st["problems"], [])
        devs = self.site.ok("devices")
        self.assertEqual([d["name"] for d in devs["devices"]], ["ups"])
        self.assertEqual(devs["devices"][0]["metrics_count"], 3)
        dev = self.site.ok("device", "ups")
        self.assertEqual({m["name"]: m["value"] for m in dev["metrics"]},
                         {"temp": 20.5, "up": True, "state": "OL"})
        self.assertEqual({m["name"]: m["unit"] for m in dev["metrics"]},
                         {"temp": "degC", "up": None, "state": None})
        hist = self.site.ok("device", "ups", "--history")
        self.assertTrue(all(isinstance(m.get("history"), list) for m in hist["metrics"]))
        # --json also works after the command.
        self.assertEqual(self.site.sonae("device", "ups", "--json").json["name"], "ups")
        audit = self.site.ok("audit")
        self.assertEqual(audit["entries"][0]["action"], "daemon.start")
        ver = self.site.ok("audit", "verify")
        self.assertIs(ver["ok"], True)
        self.assertEqual(ver["head"]["seq"], ver["entries"])
        poll = self.site.ok("poll", "ups")
        self.assertEqual(poll, {"result": "polling"})

    def test_text_outputs(self):
        r = self.site.sonae("devices")
        self.assertEqual(r.rc, 0, r)
        lines = r.out.splitlines()
        self.assertRegex(lines[0], r"^NAME\s+KIND\s+PROBE\s+CONTACT\s+SINCE\s+METRICS\s+REASON$")
        self.assertRegex(lines[1], r"^ups\s+other\s+replay\s+ok\s+\S+ \S+\s+3\s*$")
        r = self.site.sonae("device", "ups")
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.out, r"(?m)^temp\s+20\.5\s+degC\s+ok\s")
        self.assertRegex(r.out, r"(?m)^state\s+OL\s+ok\s")


if __name__ == "__main__":
    unittest.main()
