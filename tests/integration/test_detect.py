"""Detection end to end: real SNMP agents (snmpsim) and the real daemon and CLI.

A UPS goes on battery and the right incident opens with its timeline, then
resolves when mains return; a power failure folds the link it takes down into
one incident; the monitor losing its gateway is one incident, not one per
device; incidents, acknowledgements, windows and check states survive kill -9
and SIGHUP; every operator action is in the audit journal with its caller.
"""
import os
import signal
import unittest

from harness import (EXIT_FAILED, EXIT_OK, Site, Snmpsim, snmp_device, wait_for,
                     wait_until)

RFC = "1.3.6.1.2.1.33.1"
IF = "1.3.6.1.2.1.2.2.1"
ON_BATTERY, ON_MAINS = 5, 3  # upsOutputSource


def events(incident):
    return [t["event"] for t in incident["timeline"]]


def ups_device(site, ups, name="ups1", **keys):
    return snmp_device(site, name, {"address": ups.address, "community": "ups-rfc1628",
                                    "profile": "ups-rfc1628"}, kind="ups", **keys)


# The playbook the rules below name: one human step, so nothing runs.
POWER_PLAYBOOK = """name = "power-outage"; title_ja = "停電対応"; title_en = "Power outage";
steps = ( { id = "room"; type = "confirm"; title = "Check the room";
            question = "Is the room safe?"; } );
"""


def open_incident(site, rule, timeout=15):
    return wait_for(lambda: site.incident(rule), lambda i: i is not None,
                    timeout=timeout, what="an open %s incident" % rule)


class UpsOnBattery(unittest.TestCase):
    def test_incident_opens_with_its_timeline_and_resolves(self):
        ups = Snmpsim(self, "ups-rfc1628").start()
        site = Site(self)
        ups_device(site, ups)
        site.rules = [{"name": "power-outage", "when": "ups1.on_battery", "for": "3s",
                       "severity": "critical", "playbook": "power-outage",
                       "description": "ups1 runs on battery"}]
        site.playbook("power-outage", POWER_PLAYBOOK)
        site.checks = [{"name": "ups-status", "metric": "ups1.status",
                        "warn_flags": ["OB"], "crit_flags": ["LB"]}]
        site.start()
        wait_until(lambda: site.detectors()["power-outage"]["state"] == "ok",
                   what="the rule evaluated")
        self.assertEqual(site.incidents(), [])

        ups.set("ups-rfc1628", RFC + ".4.1.0", "i", ON_BATTERY)
        # The status check has no hold-down: WARNING at once.
        check = open_incident(site, "ups-status")
        self.assertEqual(check["severity"], "warning")
        # The rule holds down for 3 s: soft first (seen well inside the 3 s),
        # then hard.
        soft = wait_for(lambda: site.detectors()["power-outage"],
                        lambda x: x["state"] == "critical", what="power-outage soft")
        self.assertIs(soft["hard"], False, soft)
        inc = open_incident(site, "power-outage")
        self.assertEqual(inc["severity"], "critical")
        self.assertEqual(inc["state"], "open")
        # Its playbook started once, for this incident, and waits for a human.
        runs = wait_for(lambda: site.sonae("--json", "runs").json["runs"],
                        lambda r: len(r) == 1 and r[0]["waiting"],
                        what="the power-outage run waiting at its first step")
        self.assertEqual((runs[0]["playbook"], runs[0]["incident"], runs[0]["state"]),
                         ("power-outage", inc["id"], "running"))
        self.assertEqual(inc["title"], "ups1 runs on battery")
        self.assertEqual(inc["devices"], ["ups1"])
        self.assertEqual(inc["playbook"], "power-outage")
        self.assertIs(inc["snapshot"]["ups1.on_battery"]["value"], True)
        self.assertEqual(events(inc)[:3], ["opened", "notify", "playbook"])
        self.assertEqual(inc["timeline"][0]["actor"], "sonaed")
        first_ok = [t for t in inc["timeline"] if t["event"] == "opened"][0]
        self.assertIn("critical", first_ok["text"])

        # Human output names it.
        r = site.sonae("incident", str(inc["id"]))
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertIn("power-outage", r.out)
        self.assertIn("opened", r.out)

        ups.set("ups-rfc1628", RFC + ".4.1.0", "i", ON_MAINS)
        wait_until(lambda: site.incidents() == [], what="both incidents resolved")
        done = site.incident(id=inc["id"])
        self.assertEqual(done["state"], "resolved")
        self.assertEqual(done["resolved"]["text"], "recovered")
        self.assertEqual(events(done)[-2:], ["resolved", "notify"])
        all_ = site.incidents(all=True)
        self.assertEqual(sorted(i["rule"] for i in all_), ["power-outage", "ups-status"])
        actions = [e["action"] for e in site.journal()]
        for a in ("incident.open", "incident.notify", "playbook.request",
                  "incident.resolve"):
            self.assertIn(a, actions)


class Maintenance(unittest.TestCase):
    def test_window_holds_back_then_notifies_when_it_ends(self):
        ups = Snmpsim(self, "ups-rfc1628").start()
        site = Site(self)
        ups_device(site, ups)
        site.rules = [{"name": "power-outage", "when": "ups1.on_battery",
                       "playbook": "power-outage"}]
        site.playbook("power-outage", POWER_PLAYBOOK)
        site.start()
        r = site.sonae("--json", "maintenance", "add", "--device", "ups1", "--start",
                       "now", "--for", "4s", "-m", "battery swap")
        self.assertEqual(r.rc, EXIT_OK, r)
        window = r.json["id"]
        ups.set("ups-rfc1628", RFC + ".4.1.0", "i", ON_BATTERY)
        inc = open_incident(site, "power-outage")
        # Recorded, but nobody told and no playbook started.
        self.assertEqual(inc["maintenance"], window)
        self.assertNotIn("notify", events(inc))
        self.assertIn("notify-held", events(inc))
        self.assertIn("playbook-held", events(inc))
        self.assertNotIn("playbook", events(inc))
        self.assertNotIn("playbook-start", events(inc))
        self.assertEqual(site.sonae("--json", "runs", "--all").json["runs"], [])
        # The window runs out with the UPS still on battery: the problem is
        # notified then (the daemon's own clock, not a command, ends it).
        inc = wait_for(lambda: site.incident("power-outage"),
                       lambda i: "maintenance-end" in events(i), timeout=15,
                       what="the window's end in the timeline")
        self.assertIn("notify", events(inc))
        self.assertIsNone(inc["maintenance"])
        self.assertIn(("sonaed", "incident.notify"),
                      {(e["actor"], e["action"]) for e in site.journal()})


class Correlation(unittest.TestCase):
    def test_power_failure_folds_the_link_it_takes_down(self):
        ups = Snmpsim(self, "ups-rfc1628").start()
        sw = Snmpsim(self, "switch").start()
        site = Site(self)
        ups_device(site, ups)
        snmp_device(site, "wan1", {"address": sw.address, "community": "switch",
                                   "links": [{"name": "uplink", "match": "ifName",
                                              "value": "ge-0/0/1", "role": "wan"}]},
                    kind="router")
        site.rules = [
            {"name": "power-outage", "when": "ups1.on_battery",
             "inhibits": ["link-down", "unreachable:*"]},
            {"name": "link-down", "when": "any(role=wan, !up)", "severity": "warning"},
        ]
        site.start()
        wait_until(lambda: site.detectors()["link-down"]["state"] == "ok",
                   what="link-down evaluated")
        ups.set("ups-rfc1628", RFC + ".4.1.0", "i", ON_BATTERY)
        power = open_incident(site, "power-outage")
        sw.set("switch", IF + ".8.1", "i", 2)  # the uplink goes down with the power
        power = wait_for(lambda: site.incident("power-outage"),
                         lambda i: i["folded"], what="link-down folded in")
        self.assertEqual([f["detector"] for f in power["folded"]], ["link-down"])
        self.assertEqual(power["folded"][0]["state"], "active")
        self.assertEqual(len(site.incidents(all=True)), 1)
        self.assertEqual(site.detectors()["link-down"]["folded_into"], power["id"])

        # Mains back, the link still down: now a problem of its own.
        ups.set("ups-rfc1628", RFC + ".4.1.0", "i", ON_MAINS)
        link = open_incident(site, "link-down")
        self.assertEqual(link["severity"], "warning")
        self.assertEqual(site.incident(id=power["id"])["state"], "resolved")
        sw.set("switch", IF + ".8.1", "i", 1)
        wait_until(lambda: site.incidents() == [], what="all resolved")


class Observer(unittest.TestCase):
    def test_gateway_down_is_one_incident_not_n(self):
        gw = Snmpsim(self, "switch").start()
        agents = [Snmpsim(self, "ups-rfc1628").start() for _ in range(3)]
        site = Site(self)
        snmp_device(site, "gw", {"address": gw.address, "community": "switch",
                                 "links": [{"name": "uplink", "value": "ge-0/0/1"}]},
                    kind="router")
        for n, a in enumerate(agents, 1):
            ups_device(site, a, name="ups%d" % n)
        site.observer = {"gateway": "gw", "disk_min_free": 0}
        site.start()
        wait_until(lambda: site.status()["devices"]["ok"] == 4, what="four devices ok")

        # The gateway dies: nothing behind it answers either.
        gw.stop()
        for a in agents:
            a.stop()
        wait_until(lambda: site.status()["devices"]["lost"] == 4, timeout=20,
                   what="all four lost")
        obs = wait_for(lambda: site.incident("observer"),
                       lambda i: i is not None and len(i["folded"]) == 4,
                       what="the observer's incident with everything folded")
        self.assertEqual(len(site.incidents(all=True)), 1)
        self.assertEqual(obs["source"], "observer")
        self.assertIn("gateway gw unreachable", obs["timeline"][0]["text"])
        self.assertEqual(sorted(f["detector"] for f in obs["folded"]),
                         ["unreachable:gw", "unreachable:ups1", "unreachable:ups2",
                          "unreachable:ups3"])
        st = site.status()["detection"]
        self.assertIs(st["observer"]["ok"], False)

        # The gateway comes back last: the devices behind it were fine all along.
        for a in agents:
            a.start()
        gw.start()
        wait_until(lambda: site.incidents() == [], timeout=30, what="all resolved")
        self.assertEqual([i["rule"] for i in site.incidents(all=True)], ["observer"])
        folded = site.incident(id=obs["id"])["folded"]
        self.assertEqual({f["state"] for f in folded}, {"recovered"})


class Durability(unittest.TestCase):
    def test_state_survives_kill9_and_sighup(self):
        ups = Snmpsim(self, "ups-rfc1628").start()
        site = Site(self)
        ups_device(site, ups)
        site.rules = [{"name": "power-outage", "when": "ups1.on_battery"}]
        site.checks = [{"name": "load", "metric": "ups1.output_load_pct",
                        "warn": "~:80", "crit": "~:95"}]
        site.start()
        ups.set("ups-rfc1628", RFC + ".4.1.0", "i", ON_BATTERY)
        power = open_incident(site, "power-outage")
        r = site.sonae("ack", str(power["id"]), "--sticky", "-m", "generator on its way")
        self.assertEqual(r.rc, EXIT_OK, r)
        r = site.sonae("--json", "declare", "flood-warning", "--severity", "warning",
                       "-m", "river above the warning level")
        self.assertEqual(r.rc, EXIT_OK, r)
        flood = [i for i in site.incidents() if i["rule"] == "declared:flood-warning"][0]
        r = site.sonae("maintenance", "add", "--device", "ups1", "--start", "now",
                       "--for", "2h", "-m", "battery replacement")
        self.assertEqual(r.rc, EXIT_OK, r)
        before = site.detectors()["power-outage"]

        site.kill9()
        site.start(write=False)
        after = {i["id"]: i for i in site.incidents()}
        self.assertEqual(set(after), {power["id"], flood["id"]})
        self.assertEqual(after[power["id"]]["state"], "acknowledged")
        self.assertEqual(after[power["id"]]["acknowledged"]["kind"], "sticky")
        self.assertEqual(after[power["id"]]["acknowledged"]["text"], "generator on its way")
        self.assertEqual(after[flood["id"]]["severity"], "warning")
        wins = site.ok("maintenance", "list")["windows"]
        self.assertEqual([w["comment"] for w in wins], ["battery replacement"])
        x = site.detectors()["power-outage"]
        self.assertEqual((x["hard_state"], x["hard"]), (before["hard_state"], True))
        # Still on battery after the restart: the same incident, no second one.
        wait_until(lambda: site.detectors()["power-outage"]["since"] != "-",
                   what="evaluated again")
        self.assertEqual(len(site.incidents(all=True)), 2)
        # The readings restored as stale were not taken for news.
        self.assertNotIn("unknown", events(site.incident(id=power["id"])))

        site.signal(signal.SIGHUP)
        wait_until(lambda: site.status()["last_reload"] is not None, what="reloaded")
        self.assertEqual({i["id"] for i in site.incidents()}, {power["id"], flood["id"]})
        self.assertEqual(len(site.ok("maintenance", "list")["windows"]), 1)

        r = site.sonae("resolve", str(flood["id"]), "-m", "warning lifted")
        self.assertEqual(r.rc, EXIT_OK, r)
        r = site.sonae("resolve", str(flood["id"]), "-m", "again")
        self.assertEqual(r.rc, EXIT_FAILED, r)
        journal = site.journal()
        acts = {(e["action"], e["actor"]) for e in journal}
        for a in ("incident.ack", "incident.declare", "maintenance.add",
                  "incident.resolve"):
            self.assertIn((a, "root(0)"), acts)


if __name__ == "__main__":
    unittest.main()
