"""The staff roster and the operating modes, end to end: the real sonaed and
sonae, the announcements through aiosmtpd on 127.0.0.1.

The site has five counted staff and a vendor's contact (not counted), the
modes normal, reduced (20% absent), minimum (40%) and disaster (declared),
and staffing.hold = 2s.

- Auto: one unavailable -> reduced, two -> minimum at once; available again
  -> minimum stays while the step down is pending (shown), and steps down
  only once the hold passed, one mode at a time.
- Declared: `mode set disaster` holds whatever the headcount says until
  `mode auto`, which goes straight to what the headcount asks.
- Every change is journaled with who, why and the headcount; each mode
  change is mailed to every staff address, with the headcount.
- kill -9 and a restart: mode, source and availability (with --until) are
  the same.
- --until a few seconds ahead: available again by itself.
- Refusals: usage errors exit 2, a non-operator (nobody) is refused.
"""
import datetime
import os
import unittest

from harness import (EXIT_FAILED, EXIT_OK, EXIT_USAGE, Site, SmtpSink, cfg_value,
                     wait_for)

HOLD_S = 2
STAFF = [
    {"id": "aoki", "name": "青木 一郎", "email": "aoki@city.example.jp",
     "roles": ["on-duty", "lead"]},
    {"id": "baba", "name": "馬場 花子", "email": "baba@city.example.jp",
     "roles": ["deputy"]},
    {"id": "chiba", "name": "千葉 健", "email": "chiba@city.example.jp"},
    {"id": "doi", "name": "土井 誠", "email": "doi@city.example.jp"},
    {"id": "endo", "name": "遠藤 緑", "email": "endo@city.example.jp"},
    {"id": "vendor", "name": "Vendor KK", "email": "support@vendor.example",
     "roles": ["vendor"], "counted": False},
]
ADDRESSES = sorted(s["email"] for s in STAFF)
MODES = [
    {"name": "normal", "title": "通常体制 / Normal operations",
     "alert": ["on-duty", "deputy", "role:lead"]},
    {"name": "reduced", "title": "縮小体制 / Reduced staffing", "absence": 20,
     "alert": ["everyone"], "chain": False, "copy": ["role:vendor"],
     "escalate_after": "10min", "escalate_to": ["role:lead"], "live_availability": 3},
    {"name": "minimum", "title": "最小体制 / Minimum staffing", "absence": 40,
     "alert": ["everyone", "role:lead", "role:vendor"], "chain": False,
     "escalate_after": "5min", "live_availability": 3, "lower": "defer",
     "inspection": "suspended"},
    {"name": "disaster", "title": "災害体制 / Disaster response",
     "alert": ["everyone", "role:vendor"], "chain": False, "escalate_after": "5min"},
]
ROOT = "root(0)"


class RosterSite(Site):
    """A Site with staff, modes and staffing in its configuration."""

    def __init__(self, test):
        super().__init__(test)
        self.staffing = {"hold": "%ds" % HOLD_S}

    def config_text(self):
        return (super().config_text() +
                "staff = " + cfg_value(STAFF) + ";\n" +
                "modes = " + cfg_value(MODES) + ";\n" +
                "staffing: " + cfg_value(self.staffing) + ";\n")


def ms(t):
    return round(datetime.datetime.fromisoformat(t).timestamp() * 1000)


class Modes(unittest.TestCase):
    def setUp(self):
        self.sink = SmtpSink(self).start()
        site = self.site = RosterSite(self)
        site.control["group"] = "nogroup"  # nobody may connect, and read
        site.device("ups", "unit temp degC\n0 temp=20\nend 10s\n")
        site.mail = {"from": "sonae@city.example.jp", "relays": [{"url": self.sink.url}],
                     "retry": 0.5, "retry_max": 1}

    def mode(self):
        return self.site.ok("mode")

    def staff(self, id):
        for s in self.site.ok("staff")["staff"]:
            if s["id"] == id:
                return s
        raise AssertionError("no staff %s" % id)

    def set_staff(self, id, state, why, *extra):
        return self.site.ok("staff", "set", id, state, "-m", why, *extra)

    def entries(self, action):
        return [e for e in self.site.ok("audit")["entries"] if e["action"] == action]

    def announcements(self):
        """(subject, sorted recipients, body) of every mode mail so far."""
        out = []
        for m in self.sink.messages():
            if "MODE:" not in str(m["Subject"]):
                continue
            rcpt = sorted(a.strip() for a in m["X-RcptTo"].split(","))
            out.append((str(m["Subject"]), rcpt, m.get_body().get_content()))
        return out

    def test_auto_hysteresis_declared_and_announced(self):
        site = self.site
        site.start()
        m = self.mode()
        self.assertEqual((m["mode"], m["source"]), ("normal", "auto"))
        self.assertEqual(m["headcount"], {"total": 5, "available": 5, "absent": 0,
                                          "absent_pct": 0})
        self.assertEqual([x["name"] for x in m["modes"]],
                         ["normal", "reduced", "minimum", "disaster"])

        # One absent of five: reduced, at once.
        r = self.set_staff("chiba", "unavailable", "発熱 / fever")
        self.assertEqual(r["mode"], "reduced")
        self.assertFalse(r["staff"]["available"])
        self.assertEqual(r["staff"]["by"], ROOT)
        m = self.mode()
        self.assertEqual((m["mode"], m["source"], m["by"]), ("reduced", "auto", ROOT))
        self.assertEqual(m["headcount"]["absent"], 1)
        # The vendor is not counted.
        self.set_staff("vendor", "unavailable", "closed")
        self.assertEqual(self.mode()["headcount"]["absent"], 1)
        # Two: minimum, at once.
        self.assertEqual(self.set_staff("doi", "unavailable", "家族の看病")["mode"],
                         "minimum")

        # Back: minimum stays while the step down is pending.
        self.set_staff("chiba", "available", "回復 / recovered")
        back = self.set_staff("doi", "available", "戻りました")
        self.assertEqual(back["mode"], "minimum")
        m = self.mode()
        self.assertEqual(m["mode"], "minimum")
        self.assertEqual(m["auto"]["target"], "normal")
        pending = m["auto"]["pending"]
        self.assertIsNotNone(pending)
        self.assertEqual(pending["mode"], "reduced")
        self.assertEqual(ms(pending["at"]) - ms(pending["since"]), HOLD_S * 1000)
        st = site.status()
        self.assertEqual(st["mode"], "minimum")
        self.assertEqual(st["staffing"]["source"], "auto")
        self.assertEqual(st["staffing"]["pending"]["mode"], "reduced")
        self.assertEqual(st["staffing"]["headcount"]["absent"], 0)
        text = site.sonae("status").out
        self.assertIn("mode      minimum", text)
        self.assertIn("stepping down to reduced", text)

        # After the hold: reduced, then after another hold, normal.
        wait_for(self.mode, lambda m: m["mode"] == "normal", timeout=6 * HOLD_S + 10,
                 what="the step down to normal")
        sets = self.entries("mode.set")
        self.assertEqual([(e["detail"]["from"], e["detail"]["to"]) for e in sets],
                         [("normal", "reduced"), ("reduced", "minimum"),
                          ("minimum", "reduced"), ("reduced", "normal")])
        # (The pending step began when chiba came back: minimum was no
        # longer needed from then on.)
        chiba_back = [e for e in self.entries("staff.set")
                      if e["detail"]["id"] == "chiba"][-1]
        self.assertLess(abs(ms(pending["since"]) - ms(chiba_back["time"])), 50)
        self.assertGreaterEqual(ms(sets[2]["time"]) - ms(pending["since"]),
                                HOLD_S * 1000)
        self.assertGreaterEqual(ms(sets[3]["time"]) - ms(sets[2]["time"]),
                                HOLD_S * 1000 - 50)
        self.assertEqual(sets[2]["actor"], "sonaed")
        self.assertIsNone(self.mode()["auto"]["pending"])

        # Declared: holds until mode auto.
        r = site.ok("mode", "set", "disaster", "-m", "震度6弱 / earthquake")
        self.assertEqual(r["mode"], "disaster")
        self.set_staff("aoki", "unavailable", "負傷 / injured")
        m = self.mode()
        self.assertEqual((m["mode"], m["source"], m["why"]),
                         ("disaster", "declared", "震度6弱 / earthquake"))
        self.assertEqual(m["auto"]["target"], "reduced")
        r = site.ok("mode", "auto", "-m", "落ち着いた / settled")
        self.assertEqual(r["mode"], "reduced")
        m = self.mode()
        self.assertEqual((m["mode"], m["source"]), ("reduced", "auto"))

        # Every change journaled with who, why and the headcount.
        sets = self.entries("mode.set")
        self.assertEqual([e["detail"]["to"] for e in sets][-2:], ["disaster", "reduced"])
        declared = sets[-2]
        self.assertEqual(declared["actor"], ROOT)
        self.assertEqual(declared["detail"]["source"], "declared")
        self.assertEqual(declared["detail"]["why"], "震度6弱 / earthquake")
        for e in sets:
            self.assertEqual(set(e["detail"]["headcount"]),
                             {"total", "available", "absent", "absent_pct"})
            self.assertTrue(e["detail"]["why"])
        self.assertEqual(sets[-1]["detail"]["headcount"]["absent"], 1)
        self.assertIn("落ち着いた / settled", sets[-1]["detail"]["why"])
        staff_sets = self.entries("staff.set")
        self.assertEqual(staff_sets[0]["actor"], ROOT)
        self.assertEqual(staff_sets[0]["detail"]["id"], "chiba")
        self.assertEqual(staff_sets[0]["detail"]["why"], "発熱 / fever")
        self.assertEqual(staff_sets[0]["detail"]["headcount"]["absent"], 1)

        # Each of the six changes mailed to every staff address.
        mails = wait_for(self.announcements, lambda a: len(a) >= 6, timeout=30,
                         what="six announcements")
        self.assertEqual(len(mails), 6)
        for subject, rcpt, body in mails:
            self.assertEqual(rcpt, ADDRESSES)
        subject, rcpt, body = mails[0]
        self.assertIn("Reduced staffing (reduced)", subject)
        self.assertIn("1 of 5 absent", subject)
        self.assertIn("normal → reduced", body)
        self.assertIn("4 of 5 available, 1 absent (20%)", body)
        self.assertIn("千葉 健 (chiba)", body)
        self.assertIn("発熱 / fever", body)
        self.assertIn("everyone: aoki@city.example.jp, baba@city.example.jp, "
                      "doi@city.example.jp, endo@city.example.jp", body)
        self.assertIn("role:vendor: support@vendor.example", body)
        self.assertEqual(len(self.entries("notify.announce")), 6)

        # For people: tables.
        text = site.sonae("staff").out
        self.assertIn("4 of 5 available, 1 absent (20%)", text)
        self.assertIn("UNAVAIL", text)
        text = site.sonae("mode").out
        self.assertIn("* reduced", text)
        self.assertEqual(site.stop(), 0)

    def test_kill9_keeps_mode_and_availability(self):
        site = self.site
        site.start()
        self.set_staff("chiba", "unavailable", "入院 / in hospital", "--until", "2h")
        self.set_staff("endo", "unavailable", "休暇 / leave")
        site.ok("mode", "set", "disaster", "-m", "台風 / typhoon")
        before_mode, before_staff = self.mode(), site.ok("staff")["staff"]
        site.kill9()
        site.start(write=False)
        after_mode, after_staff = self.mode(), site.ok("staff")["staff"]
        for k in ("mode", "source", "since", "by", "why", "headcount"):
            self.assertEqual(after_mode[k], before_mode[k], k)
        self.assertEqual(after_staff, before_staff)
        chiba = self.staff("chiba")
        self.assertFalse(chiba["available"])
        self.assertIsNotNone(chiba["until_ms"])
        # And back to auto: minimum (2 of 5).
        self.assertEqual(site.ok("mode", "auto")["mode"], "minimum")
        self.assertEqual(site.stop(), 0)

    def test_until_ends_by_itself(self):
        site = self.site
        site.start()
        r = self.set_staff("doi", "unavailable", "健診 / check-up", "--until", "3s")
        self.assertEqual(r["mode"], "reduced")
        until = r["staff"]["until_ms"]
        doi = wait_for(lambda: self.staff("doi"), lambda s: s["available"], timeout=20,
                       what="doi available again")
        self.assertEqual(doi["by"], "sonaed")
        self.assertIn("passed", doi["why"])
        e = self.entries("staff.set")[-1]
        self.assertEqual((e["actor"], e["detail"]["id"], e["detail"]["available"]),
                         ("sonaed", "doi", True))
        self.assertGreaterEqual(ms(e["time"]), until)
        wait_for(self.mode, lambda m: m["mode"] == "normal", timeout=20,
                 what="normal after the hold")
        self.assertEqual(site.stop(), 0)

    def test_refusals(self):
        site = self.site
        site.start()
        seq = site.status()["audit"]["seq"]
        for args, rc, msg in (
                (("staff", "set", "chiba", "unavailable"), EXIT_USAGE, "-m TEXT is required"),
                (("staff", "set", "chiba", "away", "-m", "x"), EXIT_USAGE,
                 "want available or unavailable"),
                (("staff", "set", "chiba", "unavailable", "--until", "2020-01-01T00:00",
                  "-m", "x"), EXIT_USAGE, "not in the future"),
                (("staff", "set", "chiba", "available", "--until", "2h", "-m", "x"),
                 EXIT_USAGE, "--until goes with unavailable"),
                (("staff", "set", "nobody-here", "unavailable", "-m", "x"), EXIT_FAILED,
                 'no staff member "nobody-here"'),
                (("mode", "set", "panic", "-m", "x"), EXIT_FAILED,
                 'no operating mode "panic" (modes here: normal, reduced, minimum, '
                 'disaster)'),
                (("mode", "set", "disaster"), EXIT_USAGE, "-m TEXT is required"),
                (("mode", "set"), EXIT_USAGE, "missing arguments"),
                (("staff", "set", "chiba"), EXIT_USAGE, "missing arguments")):
            with self.subTest(args=args):
                r = site.sonae(*args)
                self.assertEqual(r.rc, rc, r)
                self.assertIn(msg, r.err)
        # A reader may look, not change.
        r = site.sonae("--json", "staff", user="nobody")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(len(r.json["staff"]), 6)
        self.assertEqual(site.sonae("mode", user="nobody").rc, EXIT_OK)
        for args in (("staff", "set", "chiba", "unavailable", "-m", "x"),
                     ("mode", "set", "disaster", "-m", "x"), ("mode", "auto")):
            with self.subTest(args=args):
                r = site.sonae(*args, user="nobody")
                self.assertEqual(r.rc, EXIT_FAILED, r)
                self.assertIn("only operators may do this", r.err)
        self.assertEqual(site.status()["audit"]["seq"], seq)
        self.assertEqual(self.mode()["mode"], "normal")
        self.assertEqual(site.stop(), 0)


if __name__ == "__main__":
    unittest.main()
