"""
Restarts: after kill -9 the daemon comes back with the snapshot (the last
known values, marked stale until the device answers again) and the audit
chain continues; SIGTERM exits 0 promptly, removes the socket and journals
daemon.stop.
"""
import json
import os
import signal
import unittest

from harness import Site, wait_until

VALUES = """\
unit charge_pct %
unit input_voltage V
0    on_battery=false charge_pct=97.5 input_voltage=101 status="OL"
end  60s
"""

SILENT = """\
0    !noreply
end  60s
"""

EXPECT = {"on_battery": False, "charge_pct": 97.5, "input_voltage": 101.0, "status": "OL"}


def values(metrics):
    return {m["name"]: m["value"] for m in metrics}


class Restart(unittest.TestCase):
    def test_kill9_restores_the_snapshot(self):
        site = Site(self)
        site.daemon["snapshot_interval"] = 1
        # Slow to give up, so the restored values are seen before contact
        # is lost: 20 missed polls of >= 0.5 s each.
        site.device("ups1", VALUES, interval=0.5, timeout=0.2, retries=0, stale_after=20)
        site.start()

        wait_until(lambda: values(site.dev("ups1")["metrics"]) == EXPECT,
                   what="the scenario's values")

        def snapshot():
            try:
                with open(site.snapshot_path) as f:
                    snap = json.load(f)
            except FileNotFoundError:
                return None
            dev = snap["devices"].get("ups1")
            if dev is None or values(dev["metrics"]) != {
                    k: (float(v) if isinstance(v, bool) else v) for k, v in EXPECT.items()}:
                return None
            return snap
        snap = wait_until(snapshot, timeout=10, what="a snapshot with the values")
        self.assertEqual(snap["version"], 1)
        seq_before = site.status()["audit"]["seq"]
        polls_before = snap["devices"]["ups1"]["polls"]
        self.assertGreater(polls_before, 0)

        site.kill9()
        self.assertTrue(os.path.exists(site.sock), "a killed daemon leaves its socket")
        # Now the device never answers.
        site.scenario("ups1", SILENT)
        site.start()

        dev = site.dev("ups1")
        self.assertIn(dev["contact"], ("pending", "missed"))
        self.assertEqual(values(dev["metrics"]), EXPECT)
        for m in dev["metrics"]:
            with self.subTest(metric=m["name"]):
                self.assertEqual(m["quality"], "stale")
                self.assertTrue(m["reason"].startswith("restored from the snapshot"), m)
        self.assertEqual({m["name"]: m["unit"] for m in dev["metrics"]},
                         {"on_battery": None, "charge_pct": "%", "input_voltage": "V",
                          "status": None})
        self.assertGreaterEqual(dev["polls"], polls_before)
        self.assertEqual(site.status()["metrics"], 4)

        # The device stays silent: contact is missed, the values stay stale.
        wait_until(lambda: site.dev("ups1")["contact"] == "missed", what="contact missed")
        dev = site.dev("ups1")
        self.assertEqual(dev["reason"], "no answer within 200ms")
        self.assertEqual({m["quality"] for m in dev["metrics"]}, {"stale"})

        # The journal goes on from where it was, and still verifies.
        st = site.status()
        self.assertEqual(st["audit"]["seq"], seq_before + 1)
        j = site.ok("audit", "verify")
        self.assertEqual((j["ok"], j["entries"]), (True, seq_before + 1))
        entries = site.journal()
        self.assertEqual([e["seq"] for e in entries], list(range(1, len(entries) + 1)))
        self.assertEqual([e["action"] for e in entries],
                         ["daemon.start", "daemon.start", "audit.verify"])
        self.assertEqual(entries[1]["prev"], entries[0]["hash"])
        self.assertNotIn("state.problem", [e["action"] for e in entries])
        self.assertEqual(site.stop(), 0)

    def test_damaged_snapshot_is_set_aside(self):
        site = Site(self)
        site.device("ups1", VALUES)
        os.mkdir(site.state_dir, 0o750)
        with open(site.snapshot_path, "w") as f:
            f.write('{"version": 1, "devices": {')
        site.start()
        aside = [n for n in os.listdir(site.state_dir) if n.startswith("state.json.damaged-")]
        self.assertEqual(len(aside), 1, os.listdir(site.state_dir))
        problems = [e for e in site.journal() if e["action"] == "state.problem"]
        self.assertEqual(len(problems), 1)
        self.assertIn("set aside as", problems[0]["detail"]["problem"])
        wait_until(lambda: site.status()["devices"]["ok"] == 1, what="the device ok")
        self.assertEqual(site.stop(), 0)

    def test_sigterm(self):
        site = Site(self)
        site.device("ups1", VALUES)
        site.start()
        wait_until(lambda: site.status()["devices"]["ok"] == 1, what="the device ok")
        pid = site.pid
        site.signal(signal.SIGTERM)
        rc = site.proc.wait(10)   # exits on its own; a hang fails here
        self.assertEqual(rc, 0, site.log_text())
        self.assertFalse(os.path.exists(site.sock), "the socket file is left behind")
        last = site.journal()[-1]
        self.assertEqual((last["actor"], last["action"], last["detail"]),
                         ("sonaed", "daemon.stop", {"pid": pid}))
        # The snapshot is written at exit, with the journal's head.
        with open(site.snapshot_path) as f:
            snap = json.load(f)
        self.assertEqual(snap["audit"], {"seq": last["seq"], "head": last["hash"]})
        self.assertEqual({m["name"] for m in snap["devices"]["ups1"]["metrics"]}, set(EXPECT))
        log = site.log_text()
        self.assertIn("SIGTERM: exiting", log)
        self.assertIn("stopped", log)
        self.assertEqual(site.stop(), 0)   # sanitizer check of the log

        # A restart after a clean stop continues the journal.
        site.start()
        j = site.ok("audit", "verify")
        self.assertIs(j["ok"], True)
        self.assertEqual(j["entries"], last["seq"] + 1)
        self.assertEqual(site.stop(), 0)

    def test_second_daemon_on_the_same_socket_is_refused(self):
        site = Site(self)
        site.device("ups1", VALUES)
        site.start()
        first = site.proc
        second = Site(self)
        second.sock = site.sock
        second.control["socket"] = site.sock
        second.device("ups1", VALUES)
        second.start(wait=False)
        self.assertEqual(second.proc.wait(10), 1)
        self.assertIn("another sonaed is listening there", second.log_text())
        self.assertIsNone(first.poll())
        self.assertEqual(site.sonae("status").rc, 0)
        self.assertEqual(site.stop(), 0)


if __name__ == "__main__":
    unittest.main()
