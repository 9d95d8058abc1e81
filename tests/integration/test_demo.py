"""
The shipped demo (etc/demo) runs, and its devices change state visibly.

The demo's scenarios last 120 s and poll every 2 s, too slow for a test, so
the second test plays a copy of the demo with shorter polling, the shipped
env1 and wan1 scenarios at speed 5, and a short scenario of its own for ups1
in which the UPS card stops answering and comes back.
"""
import os
import re
import shutil
import unittest

from harness import SONAE_SRC, Site, cfg_value, wait_for, wait_until

DEMO = os.path.join(SONAE_SRC, "etc", "demo")

# ups1, short: mains fails at 3 s, the card is silent from 6 s to 11 s.
UPS1 = """\
# ups1, short version for the integration test
unit charge_pct %
0     on_battery=false charge_pct=100 status="OL"
3s    on_battery=true charge_pct=90 status="OB"
6s    !noreply
11s   !answer on_battery=false charge_pct=85 status="OL"
end   120s
"""

FAST = {"interval": "250ms", "timeout": "100ms", "retries": 0, "stale_after": 4,
        "backoff_max": "500ms"}


def demo_site(test):
    """A Site running a copy of etc/demo with runtime.conf rewritten."""
    site = Site(test)
    folder = site.path("demo")
    shutil.copytree(DEMO, folder)
    with open(os.path.join(folder, "runtime.conf"), "w") as f:
        f.write("# written by test_demo.py\n"
                "daemon: %s;\ncontrol: %s;\n" % (
                    cfg_value({"state_dir": site.state_dir, "snapshot_interval": 1}),
                    cfg_value({"socket": site.sock})))
    site.conf = os.path.join(folder, "sonae.conf")
    return site


def speed_up(conf, name, speed=None):
    """Rewrite device name's block in the demo's sonae.conf: FAST polling,
    and a replay speed.  Fails loudly if the demo's layout changed."""
    with open(conf) as f:
        text = f.read()
    start = text.index('name = "%s";' % name)
    replay = re.compile(r'replay = \{ scenario = "%s\.replay"; \};' % name)
    m = replay.search(text, start)
    assert m is not None, "no replay section for %s in %s" % (name, conf)
    block = text[start:m.start()]
    block, n1 = re.subn(r'\binterval = "[^"]*";', "", block)
    block, n2 = re.subn(r'\btimeout = "[^"]*";', "", block)
    assert (n1, n2) == (1, 1), "%s: interval/timeout of %s not found" % (conf, name)
    fast = " ".join("%s = %s;" % (k, cfg_value(v)) for k, v in FAST.items())
    rep = 'replay = { scenario = "%s.replay";%s };' % (
        name, " speed = %s;" % cfg_value(float(speed)) if speed else "")
    text = text[:start] + block + fast + "\n\t\t" + rep + text[m.end():]
    with open(conf, "w") as f:
        f.write(text)


def dedupe(seq):
    out = []
    for x in seq:
        if not out or out[-1] != x:
            out.append(x)
    return out


def is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


class Demo(unittest.TestCase):
    def test_shipped_demo_starts(self):
        site = demo_site(self)
        site.start(write=False)
        st = wait_for(site.status, lambda s: s["devices"]["ok"] == 4, timeout=15,
                      what="the four demo devices ok")
        self.assertEqual(st["site"], "demo-town hall server room")
        self.assertEqual(st["timezone"], "Asia/Tokyo")
        self.assertEqual(st["devices"]["total"], 4)

        # The first line of each shipped scenario.
        def vals(name):
            return {m["name"]: m["value"] for m in site.dev(name)["metrics"]}
        self.assertEqual(vals("ups1"), {
            "on_battery": False, "battery_low": False, "charge_pct": 100.0,
            "runtime_s": 2400.0, "input_voltage": 101.0, "output_load_pct": 38.0,
            "status": "OL"})
        self.assertEqual(vals("wan1"), {"oper_up": True, "admin_up": True,
                                        "in_bps": 18200000.0, "out_bps": 4100000.0})
        self.assertEqual(vals("env1"), {"temperature": 23.5, "humidity": 45.0})
        self.assertEqual(vals("leak1"), {"leak": False, "cable_break": False,
                                         "leak_distance_m": 0.0})
        ups1 = site.dev("ups1")
        self.assertEqual((ups1["kind"], ups1["availability"], ups1["interval_s"]),
                         ("ups", 3, 2.0))
        self.assertEqual(ups1["location"], "Server room, rack A bottom")
        self.assertEqual(ups1["tags"], ["power", "rack-a"])
        self.assertEqual({m["name"]: m["unit"] for m in ups1["metrics"]}["charge_pct"], "%")

        r = site.sonae("status")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("site      demo-town hall server room (Asia/Tokyo)\n", r.out)
        self.assertIn("devices   4: 4 ok, 0 missed, 0 lost, 0 pending\n", r.out)
        self.assertIn("problems  none\n", r.out)
        r = site.sonae("devices")
        self.assertEqual(r.rc, 0, r)
        rows = [l.split()[:4] for l in r.out.splitlines()[1:]]
        self.assertEqual(rows, [["ups1", "ups", "replay", "ok"], ["wan1", "link", "replay", "ok"],
                                ["env1", "sensor", "replay", "ok"],
                                ["leak1", "sensor", "replay", "ok"]])
        self.assertEqual(site.stop(), 0)

    def test_devices_change_state(self):
        site = demo_site(self)
        folder = os.path.dirname(site.conf)
        with open(os.path.join(folder, "ups1.replay"), "w") as f:
            f.write(UPS1)
        speed_up(site.conf, "ups1")
        speed_up(site.conf, "env1", speed=5)
        speed_up(site.conf, "wan1", speed=5)
        site.start(write=False)

        watch = site.connect(self)
        watch.hello()
        timeline = {"ups1": [], "env1": [], "wan1": []}
        statuses = []   # `status` replies (the JSON of `sonae --json status`)
        seen = {}

        def sample():
            for name in timeline:
                st, text, d = watch.request("device " + name)
                self.assertEqual(st, 1, text)
                timeline[name].append((d["contact"], {m["name"]: (m["value"], m["quality"],
                                                                 m["reason"])
                                                      for m in d["metrics"]}))
            st, text, d = watch.request("status")
            self.assertEqual(st, 1, text)
            statuses.append(d)
            if timeline["ups1"][-1][0] == "lost" and "lost" not in seen:
                # What an operator sees while contact is lost (for seconds).
                seen["lost"] = (site.sonae("status"), site.sonae("devices"))

        def ups_contacts():
            return dedupe(c for c, _ in timeline["ups1"])

        def temps():
            return dedupe(m["temperature"][0] for _, m in timeline["env1"]
                          if "temperature" in m and m["temperature"][1] == "ok")

        def done():
            sample()
            ups = timeline["ups1"][-1]
            return (is_subsequence(["ok", "missed", "lost", "ok"], ups_contacts())
                    and ups[1].get("charge_pct", (None,))[0] == 85.0
                    and is_subsequence([28.7, 31.2, 32.4, 29.1], temps())
                    and is_subsequence([True, False, True], dedupe(
                        m["oper_up"][0] for _, m in timeline["wan1"] if "oper_up" in m)))
        wait_until(done, timeout=40, interval=0.02, what="the scenarios to play out")

        # ups1: ok (on battery) -> missed -> lost (stale) -> ok again.
        ups = timeline["ups1"]
        on_battery = [m for c, m in ups if c == "ok" and m.get("on_battery", (None,))[0] is True]
        self.assertTrue(on_battery, "ups1 never seen on battery")
        self.assertEqual(on_battery[0]["charge_pct"], (90.0, "ok", None))
        self.assertEqual(on_battery[0]["status"], ("OB", "ok", None))
        lost = [m for c, m in ups if c == "lost"]
        for name, (value, quality, reason) in lost[0].items():
            with self.subTest(metric=name):
                self.assertEqual(quality, "stale")
                self.assertEqual(reason, "contact lost: no answer within 100ms")
        self.assertEqual(lost[0]["charge_pct"][0], 90.0)  # the last known value
        missed = [m for c, m in ups if c == "missed"]
        self.assertEqual({q for _, q, _ in missed[0].values()}, {"ok"})  # not stale yet
        final = ups[-1][1]
        self.assertEqual(final, {"on_battery": (False, "ok", None),
                                 "charge_pct": (85.0, "ok", None),
                                 "status": ("OL", "ok", None)})

        # Seen through `sonae status` and `sonae devices`.
        problems = [[(p["device"], p["contact"], p["reason"]) for p in s["problems"]]
                    for s in statuses]
        self.assertEqual(dedupe(p for p in problems if p),
                         [[("ups1", "missed", "no answer within 100ms")],
                          [("ups1", "lost", "no answer within 100ms")]])
        self.assertEqual(dedupe((s["devices"]["missed"], s["devices"]["lost"])
                                for s in statuses if s["devices"]["pending"] == 0),
                         [(0, 0), (1, 0), (0, 1), (0, 0)])
        status_text, devices_text = seen["lost"]
        self.assertRegex(status_text.out,
                         r"(?m)^  ups1\s+lost\s+since \S+ \S+: no answer within 100ms$")
        self.assertRegex(devices_text.out,
                         r"(?m)^ups1\s+ups\s+replay\s+lost\s+\S+ \S+\s+3\s+no answer within 100ms$")
        r = site.sonae("status")
        self.assertNotRegex(r.out, r"(?m)^  ups1 ")
        self.assertIn("contact lost after", site.log_text())
        self.assertIn('device "ups1": contact regained', site.log_text())

        # env1: the temperature climbs as the scenario says; the sensor error
        # in between shows as quality "error" with the scenario's reason.
        self.assertEqual(temps()[:7], [23.5, 24.8, 26.9, 28.7, 31.2, 32.4, 29.1])
        errors = [m["temperature"] for _, m in timeline["env1"]
                  if "temperature" in m and m["temperature"][1] == "error"]
        self.assertTrue(errors, "the sensor error was not seen")
        self.assertEqual(errors[0][2], "sensor error -32768")
        hist = site.ok("device", "env1", "--history")
        t = [m for m in hist["metrics"] if m["name"] == "temperature"][0]
        self.assertTrue(is_subsequence([28.7, 31.2, 32.4, 29.1],
                                       dedupe(v for _, v in t["history"])), t["history"])
        # The history of ups1's charge holds all three values, in order.
        hist = site.ok("device", "ups1", "--history")
        c = [m for m in hist["metrics"] if m["name"] == "charge_pct"][0]
        self.assertEqual(dedupe(v for _, v in c["history"]), [100.0, 90.0, 85.0])
        self.assertEqual(site.stop(), 0)


if __name__ == "__main__":
    unittest.main()
