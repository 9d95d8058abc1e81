"""The reports' data end to end (report incident|drill|inspection): the real
sonaed, a UPS simulated by snmpsim, a device nobody answers for, mail to
aiosmtpd, all on 127.0.0.1.

The UPS goes on battery: power-outage opens its incident and its playbook
(a notice, a change of mode, a question an operator answers).  Its runtime
falls while the incident is open; an operator acknowledges and resolves it;
mains comes back.  A playbook is drilled.  Then:

- `report incident ID`: the incident as `sonae incident` shows it, the
  readings recorded during it (and before it: the store's ring), the mails
  with their delivery by the sink, the run, the operator's decisions with
  their actor, no follow-ups left, the mode at opening and its change;
- `report drill RUN`: the run, its "would run" lines, its notice to the
  drill address only, delivered, its journal entries;
- `report inspection`: polls, answers and misses per device, the UPS's
  runtime by the hour, the playbooks never drilled, the mode's history, the
  journal verified, the configuration valid; a period before anything
  happened has nothing in it; after a restart the hour's counters carried
  over through state_dir/history;
- the errors: no such incident or run, a run that is not a drill, bad
  arguments.

The `sonae report` command (the renderer) is written alongside: until the
CLI knows it, report() asks sonaed over the control socket itself.
"""
import datetime
import os
import shutil
import tempfile
import time
import unittest

import chromium
from test_report_render import ARTIFACTS

from harness import (EXIT_FAILED, EXIT_OK, EXIT_USAGE, Site, SmtpSink, Snmpsim,
                     free_udp_port, snmp_device, wait_for, wait_until)

RFC = "1.3.6.1.2.1.33.1"
SOURCE = RFC + ".4.1.0"           # upsOutputSource: 3 mains, 5 battery
RUNTIME = RFC + ".2.3.0"          # upsEstimatedMinutesRemaining
ON_BATTERY, ON_MAINS = 5, 3
ROOT = "root(0)"
ICT, DRILL = "ict@city.example.jp", "drill@city.example.jp"
LONG = 60

OUTAGE = """\
name = "outage-check";
title_ja = "停電の確認 (試験)";
title_en = "Power outage check (test)";
triggers = ["power-outage"];
steps = (
	{ id = "tell"; type = "notify"; title = "Tell ICT"; text = "${incident.title}";
	  to = ["%s"]; },
	{ id = "mode"; type = "set-mode"; title = "Disaster mode"; mode = "disaster"; },
	{ id = "look"; type = "confirm"; title = "Look"; question = "Looked at the UPS?"; }
);
""" % ICT

DRILLED = """\
name = "drill-me";
title_ja = "訓練用 (試験)";
title_en = "To be drilled (test)";
steps = (
	{ id = "tell"; type = "notify"; title = "Tell"; text = "drill notice"; to = ["%s"]; },
	{ id = "shut"; type = "exec"; title = "Shut down"; command = ["/bin/true", "srv1"]; },
	{ id = "mode"; type = "set-mode"; title = "Drill mode"; mode = "disaster"; }
);
""" % ICT

NEVER = """\
name = "never-drilled";
title_ja = "未訓練 (試験)";
title_en = "Never drilled (test)";
steps = ( { id = "look"; type = "confirm"; title = "Look"; question = "Looked?"; } );
"""


def ms(t):
    return round(datetime.datetime.fromisoformat(t).timestamp() * 1000)


def report(site, *words):
    """(exit status, JSON document or None, error text) of `sonae --json
    report WORDS`."""
    r = site.sonae("--json", "report", *words)
    return r.rc, (r.json if r.rc == EXIT_OK else None), r.err


def ok(test, site, *words):
    rc, doc, err = report(site, *words)
    test.assertEqual(rc, EXIT_OK, err)
    test.assertEqual(doc["report"], words[0])
    test.assertEqual(doc["site"]["name"], site.name)
    test.assertIn("timezone", doc["site"])
    test.assertLessEqual(abs(doc["generated_ms"] - time.time() * 1000), 60000)
    test.assertEqual(ms(doc["generated"]), doc["generated_ms"])
    return doc


def polls_pass(site, n):
    """Wait until ups1 was polled n more times (readings to record)."""
    first = site.dev("ups1")["polls"]
    wait_until(lambda: site.dev("ups1")["polls"] >= first + n, timeout=LONG,
               what="%d more polls of ups1" % n)


def series(doc, device, metric):
    found = [s for s in doc["readings"]["series"]
             if (s["device"], s["metric"]) == (device, metric)]
    return found[0] if found else None


class ReportData(unittest.TestCase):
    def test_incident_drill_inspection(self):
        ups = Snmpsim(self, "ups-rfc1628").start()
        sink = SmtpSink(self).start()
        site = Site(self, name="本庁舎")
        # Class 3: the disaster mode its playbook enters watches it live.
        snmp_device(site, "ups1", {"address": ups.address, "community": "ups-rfc1628",
                                   "profile": "ups-rfc1628"}, kind="ups", availability=3)
        snmp_device(site, "ghost", {"address": "udp:127.0.0.1:%d" % free_udp_port(),
                                    "community": "public", "profile": "ups-rfc1628"},
                    kind="ups", interval=2, backoff_max=2, stale_after=100)
        site.rules = [{"name": "power-outage", "when": "ups1.on_battery", "for": "1s",
                       "severity": "critical", "playbook": "outage-check",
                       "description": "Mains power failed: ups1 on battery"}]
        site.mail = {"from": "sonae@city.example.jp", "relays": [{"url": sink.url}],
                     "retry": 0.5, "retry_max": 1}
        site.routes = [{"name": "all", "to": [ICT], "group_wait": 0, "repeat": 0}]
        site.playbook("outage-check", OUTAGE)
        site.playbook("drill-me", DRILLED)
        site.playbook("never-drilled", NEVER)
        site.playbooks["drill_to"] = [DRILL]
        site.start()
        wait_until(lambda: site.metrics("ups1").get("runtime_s", {}).get("value") == 2520,
                   timeout=LONG, what="ups1 read")
        polls_pass(site, 3)  # readings in the store's ring: the context

        # --- the incident ---------------------------------------------------
        ups.set("ups-rfc1628", SOURCE, "i", ON_BATTERY)
        inc = wait_for(lambda: site.incident("power-outage"), lambda i: i is not None,
                       timeout=LONG, what="the power-outage incident")
        id = inc["id"]
        ups.set("ups-rfc1628", RUNTIME, "i", 20)  # 42 min -> 20 min: 1200 s
        wait_until(lambda: site.metrics("ups1")["runtime_s"]["value"] == 1200,
                   timeout=LONG, what="the runtime falling")
        run = wait_for(lambda: [r["id"] for r in site.ok("runs", "--all")["runs"]
                                if r["incident"] == id], lambda v: v, timeout=LONG,
                       what="the incident's run")[0]
        wait_until(lambda: any(s["id"] == "look" and s["state"] == "waiting"
                               for s in site.ok("run-status", str(run))["steps"]),
                   timeout=LONG, what="the question")
        self.assertEqual(site.sonae("confirm", str(run), "look", "-m", "見た").rc, EXIT_OK)
        wait_until(lambda: site.ok("run-status", str(run))["state"] == "done",
                   timeout=LONG, what="the run done")
        self.assertEqual(site.sonae("ack", str(id), "-m", "対応中").rc, EXIT_OK)
        polls_pass(site, 3)  # more readings while it is open
        self.assertEqual(site.sonae("resolve", str(id), "-m", "復電を確認").rc, EXIT_OK)
        ups.set("ups-rfc1628", SOURCE, "i", ON_MAINS)
        ups.set("ups-rfc1628", RUNTIME, "i", 42)

        # --- a drill ----------------------------------------------------------
        r = site.sonae("--json", "drill", "drill-me", "-m", "年次訓練")
        self.assertEqual(r.rc, EXIT_OK, r)
        drill = r.json["run"]
        wait_until(lambda: site.ok("run-status", str(drill))["state"] == "done",
                   timeout=LONG, what="the drill done")
        # Every mail delivered: problem, the run's notice, recovery, the drill's.
        wait_until(lambda: site.ok("queue")["spool"]["count"] == 0 and
                   len(sink.files()) >= 4, timeout=LONG, what="the mails delivered")

        # --- report incident ID --------------------------------------------------
        doc = ok(self, site, "incident", str(id))
        shown = site.ok("incident", str(id))
        for k in ("id", "rule", "opened_ms", "state", "resolved", "acknowledged"):
            self.assertEqual(doc["incident"][k], shown[k], k)
        self.assertTrue(doc["incident"]["timeline"])
        opened = doc["incident"]["opened_ms"]
        resolved = doc["incident"]["resolved"]["time_ms"]
        rd = doc["readings"]
        self.assertIs(rd["truncated"], False)
        self.assertEqual(rd["to_ms"], resolved)
        self.assertLessEqual(rd["from_ms"], opened)
        rt = series(doc, "ups1", "runtime_s")
        self.assertIsNotNone(rt, rd["series"])
        self.assertEqual((rt["unit"], rt["key"]), ("s", True))
        times = [p[0] for p in rt["points"]]
        self.assertEqual(times, sorted(times))
        before = [v for t, v in rt["points"] if t < opened]
        during = [v for t, v in rt["points"] if opened <= t <= resolved]
        self.assertTrue(before, "no context before the opening")
        self.assertIn(2520, before)
        self.assertIn(1200, during)
        self.assertGreater(len(during), 3)
        self.assertFalse([t for t in times if t > resolved + 1000],
                         "readings after the incident resolved")
        self.assertIs(series(doc, "ups1", "charge_pct")["key"], True)
        self.assertIsNone(series(doc, "ghost", "runtime_s"))  # not its device
        # Only numbers: on_battery is a bool, status text.
        self.assertIsNone(series(doc, "ups1", "on_battery"))

        mails = doc["notifications"]
        whats = [m["what"] for m in mails]
        self.assertIn("problem", whats)
        self.assertIn("playbook", whats)
        for m in mails:
            self.assertEqual(m["to"], [ICT], m)
            self.assertEqual(m["status"], "delivered", m)
            self.assertEqual(m["relay"], sink.url, m)  # the relay as recorded
            self.assertGreaterEqual(m["attempts"], 1)
            self.assertIsNone(m["error"])
            self.assertGreaterEqual(m["delivered_ms"], m["time_ms"])
            self.assertEqual(ms(m["time"]), m["time_ms"])
            self.assertIsInstance(m["queued"], int)

        self.assertEqual([r["id"] for r in doc["runs"]], [run])
        self.assertEqual(doc["runs"][0], site.ok("run-status", str(run)))

        got = {(d["event"], d["actor"]) for d in doc["decisions"]}
        for want in (("incident.ack", ROOT), ("incident.resolve", ROOT),
                     ("playbook.confirm", ROOT)):
            self.assertIn(want, got)
        self.assertIn("mode.set", {d["event"] for d in doc["decisions"]})
        self.assertNotIn(("playbook.start", "sonaed"), got)
        (ack,) = [d for d in doc["decisions"] if d["event"] == "incident.ack"]
        self.assertEqual(ack["text"], "対応中")
        (conf,) = [d for d in doc["decisions"] if d["event"] == "playbook.confirm"]
        self.assertEqual(conf["text"], "look: yes: 見た")
        self.assertEqual([d["time_ms"] for d in doc["decisions"]],
                         sorted(d["time_ms"] for d in doc["decisions"]))
        self.assertEqual(doc["followups"], [])
        self.assertEqual(doc["modes"]["at_open"], "normal")
        (change,) = doc["modes"]["changes"]
        self.assertEqual((change["from"], change["to"]), ("normal", "disaster"))

        # The after-action report of this recorded incident, as the operator
        # writes it (`sonae report incident ID -o DIR`), opened in headless
        # Chromium: its sections, the runtime falling in an SVG plot whose
        # line has points, the operator's answer; the screenshot is kept.
        out = tempfile.mkdtemp(prefix="sonae-report-data-")
        self.addCleanup(shutil.rmtree, out, ignore_errors=True)
        r = site.sonae("report", "incident", str(id), "-o", out)
        self.assertEqual(r.rc, EXIT_OK, r)
        html = os.path.join(out, "incident-%d.html" % id)
        self.assertEqual(r.out.splitlines(), [html, html[:-5] + ".md"])
        dom, _ = chromium.render_and_check(
            self, html, ARTIFACTS, "recorded-incident",
            ['<section id="summary">', '<section id="timeline">', '<section id="readings">',
             "runtime_s", "見た", "復電を確認", "Mains power failed: ups1 on battery"])
        shutil.copy(html, os.path.join(ARTIFACTS, "recorded-incident.html"))
        lines = chromium.polylines(dom)
        self.assertTrue(lines and all(len(pts) >= 2 for pts in lines), lines)
        with open(html[:-5] + ".md", encoding="utf-8") as f:
            self.assertIn("runtime_s", f.read())

        # --- report drill RUN -----------------------------------------------------
        doc = ok(self, site, "drill", str(drill))
        self.assertEqual(doc["run"]["id"], drill)
        self.assertIs(doc["run"]["drill"], True)
        would = {w["step"]: w for w in doc["would_run"]}
        self.assertEqual(sorted(would), ["mode", "shut"])
        self.assertEqual(would["shut"]["title"], "Shut down")
        self.assertTrue(would["shut"]["text"].startswith("would run: "), would)
        self.assertIn("srv1", would["shut"]["text"])
        (notice,) = doc["notifications"]
        self.assertEqual((notice["to"], notice["status"], notice["what"]),
                         ([DRILL], "delivered", "drill"))
        events = [(d["event"], d["actor"]) for d in doc["decisions"]]
        self.assertIn(("playbook.start", ROOT), events)
        self.assertIn("playbook.end", [e for e, _ in events])
        (n,) = [d for d in doc["decisions"] if d["event"] == "notify.playbook"]
        self.assertEqual(n["text"], 'Tell: queued #%d to ["%s"]' % (notice["queued"], DRILL))
        self.assertEqual(doc["followups"], [])

        # --- errors -----------------------------------------------------------------
        for words, rc, text in (
                (("incident", "9999"), EXIT_FAILED, "no incident 9999"),
                (("drill", "9999"), EXIT_FAILED, "no run 9999"),
                (("drill", str(run)), EXIT_FAILED,
                 "run %d is not a drill (sonae report incident %d)" % (run, id)),
                (("incident", "x1"), EXIT_USAGE, "incident ID"),
                (("drill",), EXIT_USAGE, ""),
                (("inspection", "--since", "yesterday-ish"), EXIT_USAGE, "--since"),
                (("inspection", "--since", "1d", "--until", "2d"), EXIT_FAILED,
                 "the period is empty"),
                (("inspection", "--colour"), EXIT_USAGE, "--colour"),
                (("bogus",), EXIT_USAGE, "")):
            got_rc, _, err = report(site, *words)
            self.assertEqual(got_rc, rc, (words, err))
            self.assertIn(text, err, words)

        r = site.sonae("report", "drill", str(drill), "-o", out)
        self.assertEqual(r.rc, EXIT_OK, r)
        html = os.path.join(out, "drill-%d.html" % drill)
        chromium.render_and_check(self, html, ARTIFACTS, "recorded-drill",
                                  ["【訓練】", "would run: ", "srv1"])
        shutil.copy(html, os.path.join(ARTIFACTS, "recorded-drill.html"))

        # --- report inspection --------------------------------------------------------
        doc = self.inspection(site)
        devs = {d["name"]: d for d in doc["devices"]}
        u, g = devs["ups1"], devs["ghost"]
        self.assertGreater(u["polls"], 5)
        self.assertEqual(u["polls"], u["answered"] + u["missed"])
        self.assertGreater(u["contact_pct"], 90)
        self.assertGreater(u["samples"], u["polls"])
        self.assertEqual(u["samples"], u["good"] + u["bad"])
        self.assertEqual((u["kind"], u["contact"]), ("ups", "ok"))
        self.assertGreater(g["polls"], 0)
        self.assertEqual((g["answered"], g["samples"], g["contact_pct"]), (0, 0, 0))
        self.assertIsNone(g["quality_pct"])
        (hist,) = [x for x in doc["ups"] if x["device"] == "ups1"]
        self.assertTrue(hist["runtime"])
        for hour, lo, avg, hi in hist["runtime"]:
            self.assertEqual(hour % 3600000, 0)
            self.assertTrue(lo <= avg <= hi)
        self.assertLessEqual(min(h[1] for h in hist["runtime"]), 1200)
        self.assertGreaterEqual(max(h[3] for h in hist["runtime"]), 2520)
        self.assertEqual([h[0] for h in hist["runtime"]],
                         sorted({h[0] for h in hist["runtime"]}))
        self.assertTrue(hist["charge"])
        self.assertIsNotNone(hist["last_runtime_s"])
        (ghost,) = [x for x in doc["ups"] if x["device"] == "ghost"]
        self.assertEqual((ghost["runtime"], ghost["trend_s_per_day"]), ([], None))
        self.assertEqual(sorted(doc["never_drilled"]), ["never-drilled", "outage-check"])
        (pb,) = [p for p in doc["playbooks"] if p["name"] == "drill-me"]
        self.assertEqual((pb["drilled"], pb["last_drill"]["id"], pb["last_drill_ok"]),
                         (True, drill, True))
        self.assertEqual(pb["title_en"], "To be drilled (test)")
        self.assertEqual(doc["modes"]["current"], "disaster")
        (m,) = doc["modes"]["history"]
        # The site has no staff: the headcount is there, and empty.
        self.assertEqual((m["from"], m["to"], m["headcount"]["total"]), ("normal", "disaster", 0))
        self.assertIs(doc["audit"]["ok"], True)
        self.assertEqual((doc["config"]["ok"], doc["config"]["errors"]), (True, []))
        self.assertEqual(doc["config"]["file"], site.conf)
        self.assertEqual(doc["failed_alerts"], [])
        self.assertEqual(doc["incidents"],
                         {"opened": 1, "critical": 1, "warning": 0, "resolved": 1})
        # A period that ended before any of it: nothing.
        rc, old, err = report(site, "inspection", "--since", "3d", "--until", "2d")
        self.assertEqual(rc, EXIT_OK, err)
        self.assertEqual({d["name"]: d["polls"] for d in old["devices"]},
                         {"ups1": 0, "ghost": 0})
        self.assertEqual(old["incidents"]["opened"], 0)
        self.assertEqual(old["modes"]["history"], [])

        # --- a restart: the hour's counters and the readings stay -----------------------
        polls = u["polls"]
        self.assertEqual(site.stop(), 0)
        months = os.listdir(os.path.join(site.state_dir, "history"))
        self.assertTrue(months and all(m.endswith(".jsonl") for m in months), months)
        self.assertTrue(os.path.exists(os.path.join(site.state_dir, "readings",
                                                    "%d.jsonl" % id)))
        site.start()
        after = self.inspection(site)
        (u2,) = [d for d in after["devices"] if d["name"] == "ups1"]
        self.assertGreaterEqual(u2["polls"], polls)
        again = ok(self, site, "incident", str(id))
        self.assertEqual(series(again, "ups1", "runtime_s")["points"], rt["points"])

    def inspection(self, site):
        doc = ok(self, site, "inspection", "--since", "1d")
        p = doc["period"]
        self.assertLessEqual(abs(p["to_ms"] - p["from_ms"] - 86400000), 60000)
        self.assertEqual((ms(p["from"]), ms(p["to"])), (p["from_ms"], p["to_ms"]))
        return doc


if __name__ == "__main__":
    unittest.main()
