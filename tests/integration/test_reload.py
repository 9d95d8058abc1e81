"""
Reload, by SIGHUP and by `sonae reload`: a broken file is refused whole and
the running configuration keeps serving; a good file adds, removes and
changes devices as reported, an unchanged device keeps its state and a
changed one restarts; every attempt is in the audit journal.
"""
import signal
import unittest

from harness import Site, line_of, wait_for, wait_until

SCENARIO = """\
unit temp degC
0    temp=20.5 up=true
end  10s
"""


class Reload(unittest.TestCase):
    def setUp(self):
        self.site = Site(self)
        for name in ("keep", "change", "drop"):
            self.site.device(name, SCENARIO)
        self.site.start()
        wait_until(lambda: self.site.status()["devices"]["ok"] == 3, what="three devices ok")

    def served(self):
        """The old configuration is still in force: three devices, values."""
        st = self.site.status()
        self.assertEqual(st["devices"]["total"], 3)
        names = [d["name"] for d in self.site.ok("devices")["devices"]]
        self.assertEqual(names, ["keep", "change", "drop"])
        m = self.site.metrics("drop")
        self.assertEqual(m["temp"]["value"], 20.5)
        self.assertEqual(m["temp"]["quality"], "ok")
        return st

    def break_config(self):
        """Write a configuration with one unknown key; returns its line."""
        text = self.site.config_text().replace("site: {", 'site: {\n\tcolour = "red";', 1)
        self.site.write_config(text)
        return line_of(text, "colour")

    def test_broken_file_by_sighup_keeps_the_running_config(self):
        line = self.break_config()
        seq = self.site.status()["audit"]["seq"]
        self.site.signal(signal.SIGHUP)
        st = wait_for(self.site.status, lambda s: s["last_reload"] is not None,
                      what="last_reload after SIGHUP")
        lr = st["last_reload"]
        self.assertIs(lr["ok"], False)
        self.assertEqual(lr["actor"], "signal")
        self.assertEqual(lr["errors"], ["%s:%d: site.colour: unknown key" % (self.site.conf, line)])
        self.assertGreater(st["audit"]["seq"], seq)
        self.served()
        # Polling goes on with the old configuration.
        polls = self.site.dev("drop")["polls"]
        wait_until(lambda: self.site.dev("drop")["polls"] > polls + 2, what="polls to go on")
        # The refusal is in the log and in the journal.
        self.assertIn("reload refused: %s:%d: site.colour: unknown key" % (self.site.conf, line),
                      self.site.log_text())
        e = [e for e in self.site.journal() if e["action"] == "config.reload"]
        self.assertEqual(len(e), 1)
        self.assertEqual(e[0]["actor"], "signal")
        self.assertEqual(e[0]["detail"]["ok"], False)
        self.assertEqual(e[0]["detail"]["config"], self.site.conf)
        self.assertEqual(e[0]["detail"]["errors"], lr["errors"])
        self.assertEqual(self.site.stop(), 0)

    def test_broken_file_by_sonae_reload(self):
        line = self.break_config()
        r = self.site.sonae("reload")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.out, "")
        lines = r.err.splitlines()
        self.assertEqual(len(lines), 1, r)
        self.assertIn("%s:%d: site.colour: unknown key" % (self.site.conf, line), lines[0])
        self.assertIn("running configuration is kept", lines[0])
        st = self.served()
        self.assertIs(st["last_reload"]["ok"], False)
        self.assertEqual(st["last_reload"]["actor"], "root(0)")
        self.assertEqual(st["last_reload"]["errors"],
                         ["%s:%d: site.colour: unknown key" % (self.site.conf, line)])
        # `sonae status` shows it to people too.
        self.assertRegex(self.site.sonae("status").out, r"(?m)^reload .* by root\(0\): REFUSED$")
        e = [e for e in self.site.journal() if e["action"] == "config.reload"]
        self.assertEqual([(x["actor"], x["detail"]["ok"]) for x in e], [("root(0)", False)])
        self.assertEqual(self.site.stop(), 0)

    def test_good_reload_adds_removes_changes_and_keeps(self):
        site = self.site
        # Let every device run up some polls first.
        wait_until(lambda: all(site.dev(n)["polls"] >= 8 for n in ("keep", "change")),
                   what="8 polls each")
        before = {n: site.dev(n) for n in ("keep", "change")}

        site.devices = [d for d in site.devices if d["name"] != "drop"]
        for d in site.devices:
            if d["name"] == "change":
                d["interval"] = 0.3
        site.device("add", SCENARIO)
        site.write_config()

        r = site.sonae("--json", "reload")
        self.assertEqual(r.rc, 0, r)
        j = r.json
        self.assertIs(j["ok"], True)
        self.assertEqual((j["added"], j["changed"], j["removed"], j["unchanged"]),
                         (["add"], ["change"], ["drop"], 1))
        self.assertEqual(j["config"], site.conf)
        after = {n: site.dev(n) for n in ("keep", "change")}

        # The unchanged device kept its state: counters go on from where they
        # were, contact since the same time.
        self.assertGreaterEqual(after["keep"]["polls"], before["keep"]["polls"])
        self.assertEqual(after["keep"]["since"], before["keep"]["since"])
        self.assertEqual(after["keep"]["contact"], "ok")
        wait_until(lambda: site.dev("keep")["polls"] > after["keep"]["polls"] + 2,
                   what="the kept device to go on polling")
        # The changed one restarted: new interval, counters from zero.
        self.assertEqual(after["change"]["interval_s"], 0.3)
        self.assertLess(after["change"]["polls"], before["change"]["polls"])
        self.assertGreater(after["change"]["since"], before["change"]["since"])
        # Its readings were kept through the restart.
        self.assertEqual({m["name"] for m in after["change"]["metrics"]}, {"temp", "up"})

        devs = [d["name"] for d in site.ok("devices")["devices"]]
        self.assertEqual(devs, ["keep", "change", "add"])
        r = site.sonae("device", "drop")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.err, 'sonae: no device "drop"\n')
        wait_until(lambda: site.status()["devices"]["ok"] == 3, what="three devices ok")
        self.assertEqual(site.metrics("add")["temp"]["value"], 20.5)

        st = site.status()
        self.assertIs(st["last_reload"]["ok"], True)
        self.assertEqual(st["last_reload"]["actor"], "root(0)")
        # The metrics of the removed device are gone (besides the devices' six,
        # the host's own: self.disk_free_pct, clock_synced, clock_max_error).
        self.assertEqual(st["metrics"], 6 + 3)

        # Text output: the summary line.
        r = site.sonae("reload")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, "reloaded: 0 added, 0 changed, 0 removed, 3 unchanged\n")

        e = [(x["actor"], x["detail"]) for x in site.journal() if x["action"] == "config.reload"]
        self.assertEqual(len(e), 2)
        self.assertEqual(e[0][0], "root(0)")
        self.assertEqual((e[0][1]["ok"], e[0][1]["added"], e[0][1]["changed"],
                          e[0][1]["removed"], e[0][1]["unchanged"]),
                         (True, ["add"], ["change"], ["drop"], 1))
        self.assertEqual((e[1][1]["ok"], e[1][1]["unchanged"]), (True, 3))
        self.assertEqual(site.stop(), 0)

    def test_sighup_good_reload(self):
        site = self.site
        site.devices = [d for d in site.devices if d["name"] != "drop"]
        site.write_config()
        site.signal(signal.SIGHUP)
        st = wait_for(site.status, lambda s: s["devices"]["total"] == 2,
                      what="the reload to drop a device")
        self.assertIs(st["last_reload"]["ok"], True)
        self.assertEqual(st["last_reload"]["actor"], "signal")
        self.assertEqual(st["last_reload"]["removed"], ["drop"])
        self.assertEqual(st["last_reload"]["unchanged"], 2)
        self.assertEqual(site.stop(), 0)

    def test_scenario_file_changed_is_a_changed_device(self):
        """A device whose scenario file was edited restarts with the new one."""
        site = self.site
        site.scenario("change", SCENARIO.replace("20.5", "30.25"))
        j = site.ok("reload")
        self.assertEqual((j["added"], j["changed"], j["removed"], j["unchanged"]),
                         ([], ["change"], [], 2))
        wait_until(lambda: site.metrics("change")["temp"]["value"] == 30.25,
                   what="the new scenario's value")
        self.assertEqual(site.metrics("keep")["temp"]["value"], 20.5)
        self.assertEqual(site.stop(), 0)


if __name__ == "__main__":
    unittest.main()
