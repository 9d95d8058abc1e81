"""
The detection verbs: incidents, incident, ack, declare, resolve, maintenance
add / list / remove, checks, and the detection part of status.

- Rendering (FakeDaemon): `sonae` against a stand-in for sonaed that records
  each request line and answers with JSON of the documented shapes
  (docs/cli.md): what goes on the wire (quoting of -m TEXT, positional words
  first, `checks --all` kept local) and what people see.
- Arguments (Arguments): the real sonaed refuses malformed requests as usage
  errors (exit 2, naming the usage line), unknown incidents, windows and
  devices as failures (exit 1), and journals none of it.
- Permissions (Readers): a caller who is not an operator may read incidents,
  checks and windows but may not ack, declare, resolve or change windows.
- The engine (Engine): declare, ack (normal, sticky, expiring), resolve,
  maintenance round trips and detector states.
"""
import datetime
import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import unittest

from harness import (ST_FAILED, ST_USAGE, OneDaemon, Site, sonae,
                     wait_until)

SCENARIO = """\
unit temp degC
0    temp=20.5 up=true
end  10s
"""

ACK_USAGE = "usage: ack ID [--sticky | --expire TIME] -m TEXT"
DECLARE_USAGE = "usage: declare KIND [--severity warning|critical] -m TEXT"
RESOLVE_USAGE = "usage: resolve ID -m TEXT"
ADD_USAGE = ("usage: maintenance add (--device NAME | --kind KIND | --tag TAG)... "
             "(--start TIME (--end TIME | --for DURATION) | --every SPEC --for DURATION) "
             "[-m TEXT]")
REMOVE_USAGE = "usage: maintenance remove ID [-m TEXT]"


# --- a stand-in for sonaed ---------------------------------------------------

class FakeDaemon:
    """Speaks the control protocol on a socket of its own: records each
    request line in requests and answers with self.answer, a (status, text,
    body) tuple."""

    def __init__(self, test):
        self.dir = tempfile.mkdtemp(prefix="sonae-fake-")
        self.sock = os.path.join(self.dir, "fake.sock")
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.sock)
        self.srv.listen(4)
        self.srv.settimeout(0.1)
        self.requests = []
        self.answer = (0, "ok", None)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        test.addCleanup(self.close)

    def _serve(self):
        while not self.stopping:
            try:
                c, _ = self.srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with c:
                c.settimeout(5)
                f = c.makefile("rwb")
                if not f.readline().startswith(b"HELLO 1"):
                    continue
                f.write(b"0 sonaed fake protocol 1 root(0) operator\n")
                f.flush()
                self.requests.append(f.readline().decode("utf-8").rstrip("\n"))
                st, text, body = self.answer
                out = "%d %s\n" % (st, text)
                if body is not None:
                    out += json.dumps(body) + "\n"
                f.write(out.encode("utf-8"))
                f.flush()
                f.close()

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.srv.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def sonae(self, *args, answer=None):
        if answer is not None:
            self.answer = answer
        return sonae("-s", self.sock, *args)


T0 = "2026-11-25T09:00:01.250+09:00"
T0_MS = 1795564801250

INCIDENT = {
    "id": 12, "rule": "ups-on-battery", "source": "rule",
    "title": "ups1 on battery", "severity": "critical", "state": "acknowledged",
    "opened": T0, "opened_ms": T0_MS,
    "acknowledged": {"by": "root(0)", "time": "2026-11-25T09:05:00.000+09:00",
                     "text": "generator starting", "kind": "expiring",
                     "expires": "2026-11-25T11:05:00.000+09:00"},
    "resolved": None, "devices": ["ups1", "gen1"], "playbook": "power-failure",
    "folded": [{"detector": "ups-low-battery", "since": "2026-11-25T09:03:00.000+09:00",
                "state": "active", "reason": "ups1.charge 38.5 % < 40 %"}],
    "merged_into": None, "maintenance": None, "flapping": False, "latency_us": 1250,
    "snapshot": {
        "ups1.on_battery": {"value": True, "unit": None, "quality": "ok", "time": T0},
        "ups1.charge": {"value": 38.5, "unit": "%", "quality": "ok", "time": T0}},
    "timeline": [
        {"time": T0, "time_ms": T0_MS, "actor": "sonaed", "event": "opened",
         "text": "ups1.on_battery is true"},
        {"time": "2026-11-25T09:05:00.000+09:00", "time_ms": T0_MS + 298750,
         "actor": "root(0)", "event": "acknowledged", "text": "generator starting"}],
}


def listed(incident):
    return {k: v for k, v in incident.items() if k not in ("snapshot", "timeline")}


class FakeDaemonTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeDaemon(self)

    def sent(self):
        self.assertEqual(len(self.fake.requests), 1, self.fake.requests)
        return self.fake.requests.pop()


class Wire(FakeDaemonTest):
    """What the CLI puts on the wire."""

    def test_text_is_one_word(self):
        r = self.fake.sonae("ack", "12", "--sticky", "-m", "two words",
                            answer=(0, "acknowledged incident 12 until it resolves", None))
        self.assertEqual((r.rc, r.out, r.err),
                         (0, "acknowledged incident 12 until it resolves\n", ""))
        self.assertEqual(self.sent(), 'ack 12 --sticky -m "two words"')

    def test_quotes_and_backslashes(self):
        self.fake.sonae("resolve", "-m", 'said "done" \\o/', "7")
        # Positional words first, then options, quoted as the protocol says.
        self.assertEqual(self.sent(), 'resolve 7 -m "said \\"done\\" \\\\o/"')

    def test_text_that_looks_like_an_option(self):
        self.fake.sonae("ack", "3", "-m", "--sticky")
        self.assertEqual(self.sent(), "ack 3 -m --sticky")

    def test_utf8_text(self):
        self.fake.sonae("declare", "flood-warning", "-m", "\u6cb3\u5ddd \u6c34\u4f4d")
        self.assertEqual(self.sent(), 'declare flood-warning -m "\u6cb3\u5ddd \u6c34\u4f4d"')

    def test_negative_id_goes_to_the_daemon(self):
        """"-1" is a word, not an option: sonaed says what is wrong with it."""
        r = self.fake.sonae("ack", "-1", "-m", "x",
                            answer=(ST_USAGE, 'incident ID "-1": want a positive whole '
                                              'number; ' + ACK_USAGE, None))
        self.assertEqual(r.rc, 2, r)
        self.assertEqual(self.sent(), "ack -1 -m x")

    def test_maintenance_add(self):
        self.fake.sonae("maintenance", "add", "--device", "ups1", "--device", "pdu1",
                        "--every", "sun 02:00", "--for", "2h", "-m", "battery test")
        self.assertEqual(self.sent(), 'maintenance add --device ups1 --device pdu1 '
                                      '--every "sun 02:00" --for 2h -m "battery test"')

    def test_incidents_all_is_asked_for(self):
        self.fake.sonae("incidents", "--all", answer=(1, "ok", {"incidents": []}))
        self.assertEqual(self.sent(), "incidents --all")

    def test_checks_all_only_changes_the_display(self):
        self.fake.sonae("checks", "--all", answer=(1, "ok", {"detectors": []}))
        self.assertEqual(self.sent(), "checks")

    def test_cli_usage_errors_send_nothing(self):
        for args in (("ack",), ("ack", "1", "2"), ("ack", "1", "--bogus"), ("ack", "1", "-m"),
                     ("ack", "1", "-x", "y"), ("incident",), ("resolve",),
                     ("declare",), ("maintenance", "remove"), ("maintenance", "list", "x"),
                     ("maintenance", "add", "ups1"), ("maintenance", "add", "--start"),
                     ("checks", "--history"), ("incidents", "--sticky")):
            with self.subTest(args=args):
                r = self.fake.sonae(*args)
                self.assertEqual((r.rc, r.out), (2, ""), r)
                self.assertIn("usage: sonae ", r.err)
        self.assertEqual(self.fake.requests, [])


class Rendering(FakeDaemonTest):
    """What people see, from JSON of the documented shapes."""

    def test_incidents(self):
        other = dict(listed(INCIDENT), id=13, severity="warning", state="open",
                     rule="declared:flood-warning", source="declared",
                     title="flood warning", acknowledged=None, flapping=True,
                     maintenance="w2", merged_into=None)
        r = self.fake.sonae("incidents",
                            answer=(1, "ok", {"incidents": [listed(INCIDENT), other]}))
        self.assertEqual(r.rc, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(len(lines), 3, r.out)
        self.assertRegex(lines[0], r"^\s*ID\s+SEVERITY\s+STATE\s+OPENED\s+RULE\s+TITLE$")
        self.assertRegex(lines[1], r"^\s*12 critical\s+acknowledged\s+2026-11-25 09:00:01\s+"
                                   r"ups-on-battery\s+ups1 on battery$")
        self.assertRegex(lines[2], r"^\s*13 warning\s+open\s+2026-11-25 09:00:01\s+"
                                   r"declared:flood-warning\s+flood warning "
                                   r"\(flapping\) \(maintenance w2\)$")

    def test_no_incidents(self):
        r = self.fake.sonae("incidents", answer=(1, "ok", {"incidents": []}))
        self.assertEqual((r.rc, r.out), (0, "no open incidents\n"), r)
        r = self.fake.sonae("incidents", "--all")
        self.assertEqual((r.rc, r.out), (0, "no incidents\n"), r)

    def test_incident(self):
        r = self.fake.sonae("incident", "12", answer=(1, "ok", INCIDENT))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.sent(), "incident 12")
        out = r.out
        for pattern in (
                r"(?m)^incident\s+12: ups1 on battery$",
                r"(?m)^rule\s+ups-on-battery \(rule\)$",
                r"(?m)^severity\s+critical$",
                r"(?m)^state\s+acknowledged$",
                r"(?m)^opened\s+2026-11-25 09:00:01$",
                r"(?m)^detected in\s+1\.250 ms$",
                r"(?m)^acknowledged by root\(0\) at 2026-11-25 09:05:00, until "
                r"2026-11-25 11:05:00: generator starting$",
                r"(?m)^devices\s+ups1, gen1$",
                r"(?m)^playbook\s+power-failure$",
                r"(?m)^DETECTOR\s+STATE\s+SINCE\s+REASON$",
                r"(?m)^ups-low-battery\s+active\s+2026-11-25 09:03:00\s+"
                r"ups1\.charge 38\.5 % < 40 %$",
                r"(?m)^ups1\.charge\s+38\.5 %\s+ok\s+2026-11-25 09:00:01$",
                r"(?m)^ups1\.on_battery\s+true\s+ok\s+2026-11-25 09:00:01$",
                r"(?m)^timeline$",
                r"(?m)^  2026-11-25 09:00:01  sonaed\s+opened\s+ups1\.on_battery is true$",
                r"(?m)^  2026-11-25 09:05:00  root\(0\)\s+acknowledged\s+generator starting$"):
            self.assertRegex(out, pattern)
        self.assertNotIn("resolved", out)
        self.assertNotIn("merged", out)
        # The timeline comes last, in order.
        tail = out[out.index("\ntimeline\n"):].splitlines()
        self.assertEqual(len(tail), 4, out)
        self.assertIn("sonaed", tail[2])
        self.assertIn("root(0)", tail[3])

    def test_incident_resolved_sticky(self):
        inc = dict(INCIDENT, state="resolved", flapping=True, merged_into=9,
                   maintenance="w4", latency_us=None, playbook=None, folded=[],
                   snapshot={}, timeline=[],
                   acknowledged=dict(INCIDENT["acknowledged"], kind="sticky", expires=None),
                   resolved={"by": "ops(1000)", "time": "2026-11-25T10:00:00.000+09:00",
                             "text": "mains back"})
        r = self.fake.sonae("incident", "12", answer=(1, "ok", inc))
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.out, r"(?m)^state\s+resolved, flapping$")
        self.assertRegex(r.out, r"(?m)^acknowledged by root\(0\) at 2026-11-25 09:05:00, "
                                r"sticky: generator starting$")
        self.assertRegex(r.out, r"(?m)^resolved\s+by ops\(1000\) at 2026-11-25 10:00:00: "
                                r"mains back$")
        self.assertRegex(r.out, r"(?m)^maintenance\s+window w4$")
        self.assertRegex(r.out, r"(?m)^merged into\s+incident 9$")
        for absent in ("detected in", "playbook", "DETECTOR", "timeline"):
            self.assertNotIn(absent, r.out)

    def test_no_such_incident(self):
        r = self.fake.sonae("incident", "99", answer=(ST_FAILED, "no incident 99", None))
        self.assertEqual((r.rc, r.out, r.err), (1, "", "sonae: no incident 99\n"))

    DETECTORS = [
        {"name": "unreachable:ups1", "source": "unreachable", "state": "ok", "hard": True,
         "attempt": 1, "since": T0, "flapping": False, "flap_pct": 0.0, "reason": None,
         "incident": None, "devices": ["ups1"]},
        {"name": "ups-on-battery", "source": "rule", "state": "critical", "hard": True,
         "attempt": 3, "since": T0, "flapping": False, "flap_pct": 0.0,
         "reason": "ups1.on_battery is true", "incident": 12, "devices": ["ups1"]},
        {"name": "room-temp:sensor1", "source": "check", "state": "warning", "hard": False,
         "attempt": 2, "since": T0, "flapping": True, "flap_pct": 42.4,
         "reason": "sensor1.temp 31.5 degC > 30", "incident": None, "devices": ["sensor1"]},
    ]

    def test_checks(self):
        r = self.fake.sonae("checks", answer=(1, "ok", {"detectors": self.DETECTORS}))
        self.assertEqual(r.rc, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(len(lines), 5, r.out)
        self.assertRegex(lines[0], r"^DETECTOR\s+SOURCE\s+STATE\s+SINCE\s+ATTEMPT\s+REASON$")
        self.assertRegex(lines[1], r"^ups-on-battery\s+rule\s+critical\s+2026-11-25 09:00:01"
                                   r"\s+3  ups1\.on_battery is true \(incident 12\)$")
        self.assertRegex(lines[2], r"^room-temp:sensor1\s+check\s+warning \(soft\)\s+"
                                   r"2026-11-25 09:00:01\s+2  sensor1\.temp 31\.5 degC > 30 "
                                   r"\(flapping, 42%\)$")
        self.assertEqual(lines[3:], ["", "1 of 3 detectors ok"])
        r = self.fake.sonae("checks", "--all")
        lines = r.out.splitlines()
        self.assertEqual(len(lines), 4, r.out)
        self.assertRegex(lines[1], r"^unreachable:ups1\s+unreachable\s+ok\s+")

    def test_checks_all_ok(self):
        r = self.fake.sonae("checks", answer=(1, "ok", {"detectors": self.DETECTORS[:1]}))
        self.assertEqual((r.rc, r.out), (0, "1 of 1 detectors ok\n"), r)
        r = self.fake.sonae("checks", answer=(1, "ok", {"detectors": []}))
        self.assertEqual((r.rc, r.out), (0, "no detectors\n"), r)

    def test_json_passes_through(self):
        body = {"detectors": self.DETECTORS}
        r = self.fake.sonae("--json", "checks", answer=(1, "ok", body))
        self.assertEqual((r.rc, r.json), (0, body), r)
        r = self.fake.sonae("incident", "12", "--json", answer=(1, "ok", INCIDENT))
        self.assertEqual((r.rc, r.json), (0, INCIDENT), r)
        r = self.fake.sonae("--json", "resolve", "12", "-m", "x",
                            answer=(0, "resolved incident 12", None))
        self.assertEqual((r.rc, r.json), (0, {"result": "resolved incident 12"}), r)

    WINDOWS = [
        {"id": "w3", "repeat": "once", "zone": "Asia/Tokyo",
         "start": "2026-11-25T09:00:00.000+09:00", "end": "2026-11-25T11:00:00.000+09:00",
         "devices": ["ups1"], "kinds": [], "tags": ["server-room"],
         "comment": "swap batteries", "created_by": "root(0)",
         "created": "2026-11-25T09:00:00.000+09:00", "active": True,
         "next_change": "2026-11-25T11:00:00.000+09:00", "source": "cli", "origin": None},
        {"id": "patching", "repeat": "weekly", "zone": "Asia/Tokyo", "every": "sun 02:00",
         "for": "2h", "devices": [], "kinds": ["switch"], "tags": [], "comment": None,
         "created_by": None, "created": None, "active": False,
         "next_change": "2026-11-29T02:00:00.000+09:00", "source": "config",
         "origin": "/etc/sonae/sonae.conf:88"},
    ]

    def test_maintenance_list(self):
        r = self.fake.sonae("maintenance", "list", answer=(1, "ok", {"windows": self.WINDOWS}))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.sent(), "maintenance list")
        lines = r.out.splitlines()
        self.assertEqual(len(lines), 3, r.out)
        self.assertRegex(lines[0], r"^ID\s+SOURCE\s+ACTIVE\s+WHEN\s+DEVICES\s+NEXT CHANGE"
                                   r"\s+COMMENT$")
        self.assertRegex(lines[1], r"^w3\s+cli\s+yes\s+2026-11-25 09:00:00 to 2026-11-25 "
                                   r"11:00:00\s+ups1,tag=server-room\s+2026-11-25 11:00:00"
                                   r"\s+swap batteries \[root\(0\)\]$")
        self.assertRegex(lines[2], r"^patching\s+config\s+no\s+sun 02:00 for 2h\s+"
                                   r"kind=switch\s+2026-11-29 02:00:00\s+"
                                   r"\[/etc/sonae/sonae\.conf:88\]$")
        r = self.fake.sonae("maintenance", "list", answer=(1, "ok", {"windows": []}))
        self.assertEqual((r.rc, r.out), (0, "no maintenance windows\n"), r)

    def test_maintenance_add_says_what_it_added(self):
        text = ("maintenance window w3 added: 2026-11-25T09:00:00.000+09:00 to "
                "2026-11-25T11:00:00.000+09:00 (Asia/Tokyo)")
        r = self.fake.sonae("maintenance", "add", "--device", "ups1", "--start", "now",
                            "--for", "2h", answer=(1, text, self.WINDOWS[0]))
        self.assertEqual((r.rc, r.out), (0, text + "\n"), r)

    STATUS = {
        "site": "fake", "timezone": "Asia/Tokyo", "version": "0", "pid": 1,
        "time": T0, "started": T0, "uptime_s": 5, "config": "/x.conf", "last_reload": None,
        "devices": {"total": 1, "ok": 1, "missed": 0, "lost": 0, "pending": 0},
        "metrics": 2, "problems": [], "audit": {"seq": 1, "head": "ab" * 32}, "clients": 1,
        "caller": {"actor": "root(0)", "operator": True},
    }

    def test_status_detection(self):
        st = dict(self.STATUS, detection={
            "incidents": {"open": 2, "acknowledged": 1, "warning": 1, "critical": 1},
            "detectors": {"total": 12, "not_ok": 3}, "windows": 1,
            "observer": {"ok": False, "reasons": ["gateway router1 unreachable",
                                                  "clock off by 3.2s"]}})
        r = self.fake.sonae("status", answer=(1, "ok", st))
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.out, r"(?m)^incidents 2 open \(1 critical, 1 warning\), "
                                r"1 acknowledged$")
        self.assertRegex(r.out, r"(?m)^detectors 12, 3 not ok; 1 maintenance windows$")
        self.assertRegex(r.out, r"(?m)^observer  NOT OK: gateway router1 unreachable; "
                                r"clock off by 3\.2s$")
        st["detection"] = {"incidents": {"open": 0, "acknowledged": 0, "warning": 0,
                                         "critical": 0}, "observer": {"ok": True}}
        r = self.fake.sonae("status", answer=(1, "ok", st))
        self.assertRegex(r.out, r"(?m)^incidents 0 open \(0 critical, 0 warning\), "
                                r"0 acknowledged$")
        self.assertRegex(r.out, r"(?m)^observer  ok$")

    def test_status_without_detection_keys(self):
        for detection in ({}, None, "odd"):
            with self.subTest(detection=detection):
                st = dict(self.STATUS, detection=detection)
                r = self.fake.sonae("status", answer=(1, "ok", st))
                self.assertEqual(r.rc, 0, r)
                self.assertNotIn("incidents", r.out)
                self.assertNotIn("observer", r.out)
                self.assertRegex(r.out, r"(?m)^problems  none$")


# --- the real daemon ---------------------------------------------------------


class Arguments(OneDaemon):

    def usage(self, args, message):
        """sonae ARGS is refused by sonaed as a usage error with message."""
        r = self.site.sonae(*args)
        self.assertEqual((r.rc, r.out, r.err), (2, "", "sonae: %s\n" % message), r)

    def test_usage_errors(self):
        seq = self.site.status()["audit"]["seq"]
        cases = [
            (("ack", "12"), "-m TEXT is required; " + ACK_USAGE),
            (("ack", "0", "-m", "x"),
             'incident ID "0": want a positive whole number; ' + ACK_USAGE),
            (("ack", "-1", "-m", "x"),
             'incident ID "-1": want a positive whole number; ' + ACK_USAGE),
            (("ack", "12x", "-m", "x"),
             'incident ID "12x": want a positive whole number; ' + ACK_USAGE),
            (("ack", "012", "-m", "x"),
             'incident ID "012": want a positive whole number; ' + ACK_USAGE),
            (("ack", "12", "--sticky", "--expire", "2h", "-m", "x"),
             "--sticky or --expire, not both; " + ACK_USAGE),
            (("ack", "12", "--expire", "yesterday", "-m", "x"),
             '--expire "yesterday": give a time (2026-11-25T18:00, 2026-11-25 '
             '18:00+09:00) or a duration from now (90min, 2h, 1d)'),
            (("ack", "12", "--expire", "2020-01-01", "-m", "x"),
             '--expire "2020-01-01": not in the future'),
            (("ack", "12", "--expire", "400d", "-m", "x"),
             '--expire "400d": more than 366 days ahead'),
            (("ack", "12", "-m", ""), "-m: the text is empty"),
            (("ack", "12", "-m", "x" * 1001),
             "-m: the text is 1001 bytes long (at most 1000)"),
            (("declare", "flood"), "-m TEXT is required; " + DECLARE_USAGE),
            (("declare", "Flood", "-m", "x"),
             'KIND "Flood": want 1 to 32 of a-z, 0-9 and - (pandemic, flood-warning, cyber)'),
            (("declare", "flood", "--severity", "minor", "-m", "x"),
             '--severity "minor": want warning or critical'),
            (("resolve", "4"), "-m TEXT is required; " + RESOLVE_USAGE),
            (("resolve", "x4", "-m", "done"),
             'incident ID "x4": want a positive whole number; ' + RESOLVE_USAGE),
            (("incident", "3x"), 'incident ID "3x": want a positive whole number; '
                                 'usage: incident ID'),
            (("maintenance", "add", "--start", "now", "--for", "2h"),
             'choose devices: --device NAME, --kind KIND or --tag TAG (--device "*" for '
             'every device); ' + ADD_USAGE),
            (("maintenance", "add", "--device", "ups"),
             "give --start TIME (one-off) or --every SPEC (recurring); " + ADD_USAGE),
            (("maintenance", "add", "--device", "ups", "--start", "now"),
             "--start: give --end TIME or --for DURATION as well; " + ADD_USAGE),
            (("maintenance", "add", "--device", "ups", "--every", "sun 02:00"),
             "--every: give --for DURATION (how long each window lasts); " + ADD_USAGE),
            (("maintenance", "add", "--device", "ups", "--start", "now", "--every",
              "sun 02:00", "--for", "1h"), "--start or --every, not both; " + ADD_USAGE),
            (("maintenance", "add", "--device", "ups", "--every", "sun 25:00", "--for", "2h"),
             'every "sun 25:00": bad time of day "25:00" (want HH:MM, 00:00 to 23:59)'),
            (("maintenance", "add", "--kind", "fridge", "--every", "sun 02:00", "--for",
              "2h"), 'kind "fridge": not a device kind (ups, pdu, switch, router, link, '
                     'sensor, host, other)'),
            (("maintenance", "add", "--device", "ups", "--start", "2020-01-01 00:00",
              "--end", "2020-01-02 00:00"),
             'end "2020-01-02 00:00": the window would be over already'),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                self.usage(args, message)
        # Nothing was journaled for any of them.
        self.assertEqual(self.site.status()["audit"]["seq"], seq)

    def test_raw_requests(self):
        """Options in any order; a text with blanks is one quoted word."""
        c = self.site.connect(self)
        c.hello()
        self.assertEqual(c.request("ack 12 -m two words")[:2],
                         (ST_USAGE, 'unexpected argument "words"; ' + ACK_USAGE))
        self.assertEqual(c.request("ack 12 -m x --frob")[:2],
                         (ST_USAGE, "unknown option --frob; " + ACK_USAGE))
        self.assertEqual(c.request("ack 12 -m x -m y")[:2],
                         (ST_USAGE, "-m given twice; " + ACK_USAGE))
        # (The CLI counts positional words itself; these only come raw.)
        self.assertEqual(c.request("ack -m x")[:2],
                         (ST_USAGE, "give the incident ID; " + ACK_USAGE))
        self.assertEqual(c.request("ack")[:2],
                         (ST_USAGE, "give the incident ID; " + ACK_USAGE))
        self.assertEqual(c.request("declare -m x")[:2],
                         (ST_USAGE, "give the KIND of incident; " + DECLARE_USAGE))
        self.assertEqual(c.request("maintenance remove -m x")[:2],
                         (ST_USAGE, "give the window ID; " + REMOVE_USAGE))
        self.assertEqual(c.request("maintenance remove a b")[:2],
                         (ST_USAGE, 'unexpected argument "b"; ' + REMOVE_USAGE))
        self.assertEqual(c.request("incidents --all --all")[:2],
                         (ST_USAGE, "usage: incidents [--all]"))
        self.assertEqual(c.request("incidents --al")[:2],
                         (ST_USAGE, "unknown option --al; usage: incidents [--all]"))
        self.assertEqual(c.request("maintenance")[:2],
                         (ST_USAGE, "usage: maintenance add|list|remove ..."))
        self.assertEqual(c.request("maintenance frob")[:2],
                         (ST_USAGE, "usage: maintenance add|list|remove ..."))
        self.assertEqual(c.request("checks --all")[:2], (ST_USAGE, "usage: checks"))
        # Well-formed, so the engine is asked, and there is no incident 12.
        self.assertEqual(c.request('ack 12 -m "two words"')[0], ST_FAILED)
        self.assertEqual(c.request('ack -m "two words" --sticky 12')[0], ST_FAILED)
        self.assertEqual(c.request('resolve -m "a \\"quoted\\" word" 12')[0], ST_FAILED)

    def test_unknown_things_fail(self):
        r = self.site.sonae("incident", "999")
        self.assertEqual((r.rc, r.out, r.err), (1, "", "sonae: no incident 999\n"))
        for args in (("ack", "999", "-m", "two words"), ("resolve", "999", "-m", "x"),
                     ("ack", "999", "--expire", "2h", "-m", "x"),
                     ("maintenance", "remove", "nosuch", "-m", "x")):
            with self.subTest(args=args):
                r = self.site.sonae(*args)
                self.assertEqual((r.rc, r.out), (1, ""), r)
                self.assertNotIn("usage", r.err)
        r = self.site.sonae("maintenance", "add", "--device", "nope", "--start", "now",
                            "--for", "2h")
        self.assertEqual((r.rc, r.out, r.err), (1, "", 'sonae: no device "nope"\n'))

    def test_reads(self):
        self.assertIsInstance(self.site.ok("incidents")["incidents"], list)
        self.assertIsInstance(self.site.ok("incidents", "--all")["incidents"], list)
        self.assertIsInstance(self.site.ok("checks")["detectors"], list)
        self.assertIsInstance(self.site.ok("maintenance", "list")["windows"], list)
        self.assertIsInstance(self.site.status()["detection"], dict)
        for args in (("incidents",), ("checks",), ("checks", "--all"),
                     ("maintenance", "list"), ("status",)):
            with self.subTest(args=args):
                r = self.site.sonae(*args)
                self.assertEqual((r.rc, r.err), (0, ""), r)


class Readers(unittest.TestCase):
    """Who may do what: readers read, operators act."""

    def test_reader_may_read_but_not_act(self):
        if os.geteuid() != 0 or shutil.which("setpriv") is None:
            # A failure, not a skip (as in test_permissions).
            raise AssertionError("needs root and setpriv (to run sonae as nobody)")
        site = Site(self)
        site.control["group"] = "nogroup"
        site.device("ups", SCENARIO)
        site.start()
        for args in (("incidents",), ("incidents", "--all"), ("checks",),
                     ("maintenance", "list")):
            with self.subTest(args=args):
                r = site.sonae(*args, user="nobody")
                self.assertEqual((r.rc, r.err), (0, ""), r)
        r = site.sonae("incident", "1", user="nobody")
        self.assertEqual((r.rc, r.err), (1, "sonae: no incident 1\n"), r)

        seq = site.status()["audit"]["seq"]
        for verb, args in (("ack", ("1", "-m", "x")), ("ack", ("1", "--sticky", "-m", "x")),
                           ("declare", ("cyber", "-m", "x")),
                           ("resolve", ("1", "-m", "x")),
                           ("maintenance add", ("--device", "ups", "--start", "now",
                                                "--for", "1h")),
                           ("maintenance remove", ("w1",))):
            with self.subTest(verb=verb):
                r = site.sonae(*(verb.split() + list(args)), user="nobody")
                self.assertEqual((r.rc, r.out), (1, ""), r)
                self.assertEqual(r.err, "sonae: %s: only operators may do this "
                                        "(you are nobody(65534))\n" % verb)
                self.assertIn('control: nobody(65534) refused "%s": not an operator' % verb,
                              site.log_text())
        self.assertEqual(site.status()["audit"]["seq"], seq)
        self.assertEqual(site.stop(), 0)


# --- with the engine ---------------------------------------------------------

class Engine(OneDaemon):

    def journal_since(self, seq):
        return [e for e in self.site.journal() if e["seq"] > seq]

    def incident(self, n):
        return self.site.ok("incident", str(n))

    def declare(self, *args):
        r = self.site.sonae("declare", *args)
        self.assertEqual(r.rc, 0, r)
        m = re.match(r"^declared incident (\d+)\n$", r.out)
        self.assertIsNotNone(m, r)
        return int(m.group(1))

    def test_declare_ack_resolve(self):
        seq = self.site.status()["audit"]["seq"]
        n = self.declare("flood-warning", "--severity", "warning", "-m", "river at 4.2 m")
        # The declaration is the caller's; what sonaed decides on its own
        # (the notification) is sonaed's.
        new = self.journal_since(seq)
        self.assertEqual([(e["actor"], e["action"]) for e in new],
                         [("root(0)", "incident.declare"), ("sonaed", "incident.notify")])

        inc = self.incident(n)
        self.assertEqual((inc["id"], inc["source"], inc["severity"], inc["state"]),
                         (n, "declared", "warning", "open"))
        self.assertIsNone(inc["acknowledged"])
        self.assertIsNone(inc["resolved"])
        # The text arrived as one word, blanks and all.
        self.assertIn(("root(0)", "river at 4.2 m"),
                      [(e["actor"], e["text"]) for e in inc["timeline"]])
        listed_ = {i["id"]: i for i in self.site.ok("incidents")["incidents"]}
        self.assertIn(n, listed_)
        self.assertNotIn("timeline", listed_[n])
        self.assertNotIn("snapshot", listed_[n])
        r = self.site.sonae("incidents")
        self.assertRegex(r.out, r"(?m)^\s*%d warning\s+open\s+" % n)

        # A plain acknowledgement.
        seq = self.site.status()["audit"]["seq"]
        r = self.site.sonae("ack", str(n), "-m", "on it, two words")
        self.assertEqual((r.rc, r.out), (0, "acknowledged incident %d\n" % n), r)
        self.assertTrue(self.journal_since(seq))
        inc = self.incident(n)
        self.assertEqual(inc["state"], "acknowledged")
        ack = inc["acknowledged"]
        self.assertEqual((ack["by"], ack["text"], ack["kind"], ack["expires"]),
                         ("root(0)", "on it, two words", "normal", None))

        # Sticky.
        r = self.site.sonae("ack", str(n), "--sticky", "-m", "until it is over")
        self.assertEqual((r.rc, r.out),
                         (0, "acknowledged incident %d until it resolves\n" % n), r)
        self.assertEqual(self.incident(n)["acknowledged"]["kind"], "sticky")

        # Expiring two hours from now (not two hours ago).
        now = time.time()
        r = self.site.sonae("ack", str(n), "--expire", "2h", "-m", "back at noon")
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.out, r"^acknowledged incident %d until \S+\n$" % n)
        ack = self.incident(n)["acknowledged"]
        self.assertEqual(ack["kind"], "expiring")
        ahead = datetime.datetime.fromisoformat(ack["expires"]).timestamp() - now
        self.assertTrue(7200 - 60 < ahead < 7200 + 60, ack)

        # Resolved: gone from the open list, still in --all.
        seq = self.site.status()["audit"]["seq"]
        r = self.site.sonae("resolve", str(n), "-m", "water receded")
        self.assertEqual((r.rc, r.out), (0, "resolved incident %d\n" % n), r)
        self.assertTrue(self.journal_since(seq))
        inc = self.incident(n)
        self.assertEqual(inc["state"], "resolved")
        self.assertEqual((inc["resolved"]["by"], inc["resolved"]["text"]),
                         ("root(0)", "water receded"))
        self.assertNotIn(n, [i["id"] for i in self.site.ok("incidents")["incidents"]])
        self.assertIn(n, [i["id"] for i in self.site.ok("incidents", "--all")["incidents"]])

    def test_declare_json_and_default_severity(self):
        r = self.site.sonae("--json", "declare", "cyber", "-m", "ransomware note on fs1")
        self.assertEqual(r.rc, 0, r)
        n = r.json["id"]
        self.assertIsInstance(n, int)
        self.assertEqual(self.incident(n)["severity"], "critical")
        self.assertEqual(self.site.sonae("resolve", str(n), "-m", "drill").rc, 0)

    def test_maintenance_round_trip(self):
        seq = self.site.status()["audit"]["seq"]
        r = self.site.sonae("maintenance", "add", "--device", "ups", "--start", "now",
                            "--for", "2h", "-m", "swap batteries")
        self.assertEqual(r.rc, 0, r)
        m = re.match(r"^maintenance window (\S+) added: \S+ to \S+ \(Asia/Tokyo\)\n$", r.out)
        self.assertIsNotNone(m, r)
        wid = m.group(1)
        self.assertTrue(self.journal_since(seq))
        windows = {w["id"]: w for w in self.site.ok("maintenance", "list")["windows"]}
        self.assertIn(wid, windows)
        w = windows[wid]
        self.assertEqual((w["repeat"], w["devices"], w["kinds"], w["tags"], w["comment"],
                          w["created_by"], w["source"], w["active"]),
                         ("once", ["ups"], [], [], "swap batteries", "root(0)", "cli", True))
        self.assertEqual(w["next_change"], w["end"])
        r = self.site.sonae("maintenance", "list")
        self.assertRegex(r.out, r"(?m)^%s\s+cli\s+yes\s+.*\sups\s.*swap batteries" %
                         re.escape(wid))

        # Recurring, and --json gives the window.
        r = self.site.sonae("--json", "maintenance", "add", "--kind", "other", "--tag", "lab",
                            "--every", "sun 02:00", "--for", "2h")
        self.assertEqual(r.rc, 0, r)
        w2 = r.json
        self.assertEqual((w2["repeat"], w2["every"], w2["for"], w2["kinds"], w2["tags"],
                          w2["source"]), ("weekly", "sun 02:00", "2h", ["other"], ["lab"],
                                          "cli"))
        self.assertNotEqual(w2["id"], wid)
        self.assertIn(w2["id"], [w["id"] for w in self.site.ok("maintenance", "list")["windows"]])

        for x in (wid, w2["id"]):
            r = self.site.sonae("maintenance", "remove", x, "-m", "done")
            self.assertEqual((r.rc, r.out), (0, "maintenance window %s removed\n" % x), r)
        ids = [w["id"] for w in self.site.ok("maintenance", "list")["windows"]]
        self.assertNotIn(wid, ids)
        self.assertNotIn(w2["id"], ids)
        r = self.site.sonae("maintenance", "remove", wid)
        self.assertEqual((r.rc, r.out), (1, ""), r)

    def test_checks(self):
        def unreachable():
            d = {x["name"]: x for x in self.site.ok("checks")["detectors"]}
            return d.get("unreachable:ups")
        u = wait_until(lambda: (unreachable() or {}).get("state") == "ok" and unreachable(),
                       what="unreachable:ups ok")
        self.assertEqual(u["source"], "unreachable")
        self.assertEqual(u["devices"], ["ups"])
        r = self.site.sonae("checks")
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.out.splitlines()[-1], r"^\d+ of \d+ detectors ok$")
        r = self.site.sonae("checks", "--all")
        self.assertRegex(r.out, r"(?m)^unreachable:ups\s+unreachable\s+ok\s")

    def test_status(self):
        self.assertTrue(self.site.status()["detection"])


if __name__ == "__main__":
    unittest.main()
