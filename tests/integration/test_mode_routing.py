"""Routing by the operating mode, end to end: the real sonaed and sonae, mail
to aiosmtpd on loopback (tests/integration/smtp_server.py).

- Routing: the same kind of incident, declared in the normal mode, mails the
  one on duty first (a call tree); declared again in the minimum mode it
  mails everyone available, the lead and the vendor at once.  A person the
  roster says is unavailable is not mailed.
- Approval: a load-shedding playbook (a confirm step, then an exec step)
  waits for a human in the normal mode (run-status shows the question); in
  the reduced mode, which pre-approves the step (modes[].preapproved), it
  runs through alone, the answer journaled with the actor mode:reduced.
- Scope: in the reduced mode (live from availability class 2) a problem of a
  class-1 sensor is not mailed: it is kept for the daily digest (timeline,
  journal, the mode's deferred work); back in the normal mode, still open,
  it is told as a problem, once.  An incident without devices (declared) is
  told live in any mode.

The modes are declared with `sonae mode set` and people marked away with
`sonae staff set` (monitor/roster.c); staffing.auto is off so that nothing
but the test changes the mode, and staffing.announce is off so that the sink
holds only the incidents' mail.
"""
import os
import unittest

from harness import DATA, EXIT_OK, Site, SmtpSink, cfg_value, wait_for, wait_until

AOKI, BABA, CHIBA = "aoki@city.example.jp", "baba@city.example.jp", "chiba@city.example.jp"
DAN, VENDOR = "dan@city.example.jp", "support@vendor.example.jp"
OUTSIDE = "bcp@pref.example.jp"
SCRIPTS = os.path.join(DATA, "playbooks", "bin")
LONG = 60

STAFF = [
    {"id": "aoki", "name": "青木", "email": AOKI, "roles": ["on-duty"]},
    {"id": "baba", "name": "馬場", "email": BABA, "roles": ["deputy"]},
    {"id": "chiba", "name": "千葉", "email": CHIBA, "roles": ["lead"]},
    {"id": "dan", "name": "段", "email": DAN},
    {"id": "ven", "name": "保守業者", "email": VENDOR, "roles": ["vendor"],
     "counted": False},
]

MODES = [
    {"name": "normal", "title": "通常体制 / Normal operations",
     "alert": ["on-duty", "deputy", "role:lead"], "escalate_after": "15min"},
    {"name": "reduced", "title": "縮小体制 / Reduced staffing", "absence": 20,
     "alert": ["everyone"], "chain": False, "copy": ["role:vendor"],
     "escalate_after": "10min", "live_availability": 2},
    {"name": "minimum", "title": "最小体制 / Minimum staffing", "absence": 40,
     "alert": ["everyone", "role:lead", "role:vendor"], "chain": False,
     "escalate_after": "5min", "escalate_to": [OUTSIDE], "live_availability": 3,
     "lower": "defer"},
]

SHED = """
name = "shed";
title_ja = "負荷遮断";
title_en = "Load shedding";
parameters = (
	{ name = "log"; description = "The file the test's script appends to"; }
);
steps = (
	{ id = "approve"; type = "confirm"; title = "Shed the test load";
	  question = "試験負荷を遮断してよいか / Shed the test load?"; timeout = "10min";
	  default = "no"; },
	{ id = "shed"; type = "exec"; title = "Shed the test load";
	  command = ["%s/pb-log", "${log}", "shed"]; }
);
""" % SCRIPTS


class RosterSite(Site):
    """A site with staff, modes and staffing (the harness writes the rest)."""

    def __init__(self, test, **kw):
        Site.__init__(self, test, **kw)
        self.modes = [dict(m) for m in MODES]

    def mode(self, name):
        return [m for m in self.modes if m["name"] == name][0]

    def config_text(self):
        return (Site.config_text(self) +
                "staff = " + cfg_value(STAFF) + ";\n" +
                "modes = " + cfg_value(self.modes) + ";\n" +
                "staffing: " + cfg_value({"auto": False, "announce": False}) + ";\n")


def roster_site(test, sink):
    site = RosterSite(test, name="本庁舎")
    site.mail = {"from": "sonae@city.example.jp", "relays": [{"url": sink.url}],
                 "retry": 0.5, "retry_max": 1}
    site.routes = [{"name": "roster", "roster": True, "channels": ["mail"],
                    "group_wait": 0, "repeat": 0}]
    return site


def declare(site, kind, text):
    r = site.sonae("declare", kind, "--severity", "critical", "-m", text)
    if r.rc != EXIT_OK:
        raise AssertionError("declare: %s" % r.err)
    return int(r.out.split("incident")[1].split()[0])


def rcpts(msg):
    return sorted(a.strip() for a in msg["X-RcptTo"].split(","))


def set_mode(site, mode, why):
    site.ok("mode", "set", mode, "-m", why)
    wait_for(lambda: site.ok("mode"), lambda m: m["mode"] == mode,
             what="the mode %s" % mode)


class Routing(unittest.TestCase):
    def test_normal_tells_on_duty_first_minimum_everyone_at_once(self):
        sink = SmtpSink(self).start()
        site = roster_site(self, sink)
        site.start()
        self.assertEqual(site.ok("mode")["mode"], "normal")

        first = declare(site, "power-outage", "停電 本庁舎 (通常体制)")
        (m,) = sink.wait(1)
        self.assertEqual(int(m["X-Sonae-Incident"]), first)
        self.assertEqual(rcpts(m), [AOKI], "normal: the one on duty, first")
        notes = [t for t in site.incident(id=first)["timeline"] if t["event"] == "roster"]
        self.assertTrue(notes and "mode normal" in notes[0]["text"], notes)
        site.ok("resolve", str(first), "-m", "復旧")
        self.assertEqual(rcpts(sink.wait(2)[1]), [AOKI])

        site.ok("staff", "set", "dan", "unavailable", "-m", "発熱のため休み")
        set_mode(site, "minimum", "感染拡大: 最小体制")
        second = declare(site, "power-outage", "停電 本庁舎 (最小体制)")
        m = sink.wait(3)[2]
        self.assertEqual(int(m["X-Sonae-Incident"]), second)
        # Everyone available, the lead and the vendor, at once; not dan (away).
        self.assertEqual(rcpts(m), sorted([AOKI, BABA, CHIBA, VENDOR]))
        notes = [t for t in site.incident(id=second)["timeline"]
                 if t["event"] == "roster"]
        self.assertTrue(notes and "mode minimum" in notes[0]["text"], notes)
        site.check_logs()


class Approval(unittest.TestCase):
    def test_preapproved_load_shedding_runs_alone_only_in_reduced(self):
        sink = SmtpSink(self).start()
        site = roster_site(self, sink)
        site.playbook("shed", SHED)
        log = site.path("shed.log")
        site.playbooks["parameters"] = [{"playbook": "shed", "name": "log", "value": log}]
        site.mode("reduced")["preapproved"] = ["shed:approve"]
        site.start()

        waits = site.ok("run", "shed", "-m", "負荷遮断 (通常体制)")["run"]
        rs = wait_for(lambda: site.ok("run-status", str(waits)),
                      lambda rs: [w for w in rs["waiting"] if w["id"] == "approve"],
                      timeout=LONG, what="run %s waiting at approve" % waits)
        self.assertEqual(rs["state"], "running")
        self.assertFalse(os.path.exists(log), "nothing shed without an answer")

        set_mode(site, "reduced", "2 名欠勤: 縮小体制")
        alone = site.ok("run", "shed", "-m", "負荷遮断 (縮小体制)")["run"]
        rs = wait_for(lambda: site.ok("run-status", str(alone)),
                      lambda rs: rs["state"] != "running", timeout=LONG,
                      what="run %s over" % alone)
        self.assertEqual(rs["state"], "done", rs)
        approve = [s for s in rs["steps"] if s["id"] == "approve"][0]
        self.assertEqual(approve["actor"], "mode:reduced")
        self.assertIn("pre-approved in mode reduced", approve["result"])
        with open(log) as f:
            self.assertTrue(f.read().startswith("shed "), "the exec step ran")
        entries = [e for e in site.ok("audit")["entries"]
                   if e["action"] == "playbook.confirm"]
        self.assertEqual([(e["actor"], e["detail"]["run"], e["detail"]["answer"])
                          for e in entries], [("mode:reduced", alone, "yes")])
        # The run that waited before the mode changed still waits for a human.
        rs = site.ok("run-status", str(waits))
        self.assertEqual([w["id"] for w in rs["waiting"]], ["approve"])
        site.check_logs()


class Scope(unittest.TestCase):
    def test_lower_class_waits_for_the_digest_then_is_told_live(self):
        sink = SmtpSink(self).start()
        site = roster_site(self, sink)
        site.start()
        set_mode(site, "reduced", "2 名欠勤: 縮小体制")
        site.stop()
        # The declared mode outlives the restart; the sensor is hot at once.
        site.device("env9", "unit temp_c C\n0 temp_c=41\nend 1h\n", kind="sensor",
                    availability=1)
        site.rules = [{"name": "hot-store", "when": "env9.temp_c > 35",
                       "severity": "warning",
                       "description": "倉庫の温度が高い / Store room hot"}]
        site.start()
        self.assertEqual(site.ok("mode")["mode"], "reduced")
        inc = wait_for(lambda: site.incident("hot-store"), lambda i: i is not None,
                       timeout=LONG, what="the hot-store incident")
        id = inc["id"]
        wait_until(lambda: [t for t in site.incident(id=id)["timeline"]
                            if t["event"] == "deferred"], LONG,
                   what="incident %d deferred" % id)
        entries = [e for e in site.ok("audit")["entries"]
                   if e["action"] == "alert.deferred"]
        self.assertEqual([(e["detail"]["incident"], e["detail"]["mode"],
                           e["detail"]["class"], e["detail"]["how"]) for e in entries],
                         [(id, "reduced", 1, "digest")])
        self.assertIn(id, [d["incident"] for d in site.ok("mode")["deferred"]])
        # A declared incident has no devices: told live.
        fire = declare(site, "fire", "火災報知器 (縮小体制)")
        (m,) = sink.wait(1)
        self.assertEqual(int(m["X-Sonae-Incident"]), fire)
        self.assertEqual(rcpts(m), sorted([AOKI, BABA, CHIBA, DAN, VENDOR]))
        self.assertEqual(len(sink.files()), 1, "the class-1 problem was not mailed")

        set_mode(site, "normal", "全員復帰")
        m = sink.wait(2)[1]
        self.assertEqual(int(m["X-Sonae-Incident"]), id)
        self.assertIn("WARNING #%d" % id, m["Subject"])
        self.assertEqual(rcpts(m), [AOKI])
        self.assertIn("watches this problem's assets (class 1) live",
                      m.get_body(("plain",)).get_content())
        site.check_logs()


if __name__ == "__main__":
    unittest.main()
