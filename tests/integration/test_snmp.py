"""
The snmp probe against real agents on loopback: snmpsimd (one process per
simulated device, data in tests/integration/data/*.snmprec, values flipped
with snmpset through writecache entries), net-snmp's snmpd for SNMPv3, and
errstat_agent.py (pysnmp) for error statuses.
"""
import os
import subprocess
import unittest

from harness import (EXIT_OK, Site, Snmpd, Snmpsim, UdpAgent, free_udp_port,
                     snmp_device, wait_for, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))

RFC = "1.3.6.1.2.1.33.1"
APC = "1.3.6.1.4.1.318.1.1.1"


def values(site, name):
    return {k: m.get("value") for k, m in site.metrics(name).items()}


def ok_with(site, name, **want):
    """Wait until device name's contact is ok and its metrics have want."""
    def get():
        d = site.dev(name)
        return d, {m["name"]: m for m in d["metrics"]}

    def cond(v):
        d, m = v
        return d["contact"] == "ok" and all(
            k in m and m[k].get("value") == x and m[k].get("quality") == "ok"
            for k, x in want.items())
    return wait_for(get, cond, timeout=15, what="%s to show %r" % (name, want))[1]


class ErrstatAgent(UdpAgent):
    """tests/integration/errstat_agent.py (pysnmp) on 127.0.0.1 and a free
    port: objects that fail with error statuses.  Stopped by PID."""

    def __init__(self, test, community):
        self.port = free_udp_port()
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "errstat_agent.py"),
             str(self.port), community], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        test.addCleanup(self.stop)
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            raise AssertionError("errstat_agent.py did not start: %r" % line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc.stdout.close()


class Rfc1628(unittest.TestCase):
    def test_mains_battery_and_back(self):
        ups = Snmpsim(self, "ups-rfc1628").start()
        site = Site(self)
        snmp_device(site, "ups1", {"address": ups.address, "community": "ups-rfc1628",
                                   "profile": "ups-rfc1628"})
        site.start()
        m = ok_with(site, "ups1", status="OL", on_battery=False)
        got = {k: m[k]["value"] for k in m}
        self.assertEqual(got["charge_pct"], 100)
        self.assertEqual(got["runtime_s"], 42 * 60)
        self.assertEqual(got["seconds_on_battery"], 0)
        self.assertEqual(got["input_voltage"], 230)
        self.assertEqual(got["output_load_pct"], 37)
        self.assertEqual(got["battery_temp"], 24)
        self.assertEqual(got["alarms"], "")
        for flag in ("battery_low", "replace_battery", "overload", "bypass"):
            self.assertIs(got[flag], False, flag)
        self.assertEqual(m["charge_pct"]["unit"], "%")
        self.assertEqual(m["runtime_s"]["unit"], "s")
        self.assertEqual(m["input_voltage"]["unit"], "V")
        self.assertEqual(m["battery_temp"]["unit"], "degC")

        # Mains fails, then the battery runs low.
        ups.set("ups-rfc1628", RFC + ".4.1.0", "i", 5)
        ok_with(site, "ups1", on_battery=True, status="OB")
        ups.set("ups-rfc1628", RFC + ".2.1.0", "i", 3)
        ups.set("ups-rfc1628", RFC + ".2.4.0", "i", 12)
        m = ok_with(site, "ups1", on_battery=True, battery_low=True, status="OB LB",
                    charge_pct=12)
        r = site.sonae("--json", "device", "ups1")
        self.assertEqual(r.rc, EXIT_OK)
        # Mains returns.
        ups.set("ups-rfc1628", RFC + ".4.1.0", "i", 3)
        ups.set("ups-rfc1628", RFC + ".2.1.0", "i", 2)
        ok_with(site, "ups1", on_battery=False, battery_low=False, status="OL")
        self.assertEqual(site.dev("ups1")["missed"], 0)

    def test_alarm_table(self):
        ups = Snmpsim(self, "ups-rfc1628-alarms").start()
        site = Site(self)
        conf = {"address": ups.address, "community": "ups-rfc1628-alarms",
                "profile": "ups-rfc1628"}
        snmp_device(site, "ups2c", conf)
        # v1 walks with GETNEXT instead of GETBULK.
        snmp_device(site, "ups1v", dict(conf, version="1"))
        site.start()
        for name in ("ups2c", "ups1v"):
            m = ok_with(site, name,
                        alarms="BatteryBad,OnBattery,LowBattery,OutputOverload",
                        status="OB LB RB OVER")
            got = {k: m[k]["value"] for k in m}
            self.assertIs(got["replace_battery"], True)
            self.assertIs(got["overload"], True)
            self.assertIs(got["bypass"], False)
            self.assertEqual(got["seconds_on_battery"], 120)
            self.assertEqual(got["runtime_s"], 300)
            self.assertEqual(got["output_load_pct"], 104)


class Apc(unittest.TestCase):
    def test_high_precision_and_flip(self):
        ups = Snmpsim(self, "ups-apc").start()
        site = Site(self)
        snmp_device(site, "apc1", {"address": ups.address, "community": "ups-apc",
                                   "profile": "ups-apc"})
        site.start()
        m = ok_with(site, "apc1", status="OL")
        got = {k: m[k]["value"] for k in m}
        # The high-precision objects (tenths) win over the standard ones.
        self.assertAlmostEqual(got["charge_pct"], 99.5)
        self.assertAlmostEqual(got["input_voltage"], 229.1)
        self.assertAlmostEqual(got["output_load_pct"], 41.2)
        self.assertAlmostEqual(got["battery_temp"], 27.3)
        self.assertEqual(got["runtime_s"], 1800)
        self.assertEqual(got["seconds_on_battery"], 0)
        self.assertNotIn("alarms", got)
        ups.set("ups-apc", APC + ".4.1.1.0", "i", 3)
        ok_with(site, "apc1", on_battery=True, status="OB")
        ups.set("ups-apc", APC + ".2.2.4.0", "i", 2)
        ups.set("ups-apc", APC + ".2.1.1.0", "i", 3)
        ok_with(site, "apc1", replace_battery=True, battery_low=True, status="OB LB RB")

    def test_standard_fallback(self):
        ups = Snmpsim(self, "ups-apc-basic").start()
        site = Site(self)
        snmp_device(site, "apc2", {"address": ups.address, "community": "ups-apc-basic",
                                   "profile": "ups-apc", "max_oids": 3})
        site.start()
        m = ok_with(site, "apc2", status="OB LB RB")
        got = {k: m[k]["value"] for k in m}
        self.assertEqual(got["charge_pct"], 35)
        self.assertEqual(got["battery_temp"], 30)
        self.assertEqual(got["input_voltage"], 0)
        self.assertEqual(got["output_load_pct"], 55)
        self.assertEqual(got["runtime_s"], 600)
        self.assertEqual(got["seconds_on_battery"], 60)


class Auto(unittest.TestCase):
    def test_choose_by_sysobjectid_then_probing(self):
        apc = Snmpsim(self, "ups-apc").start()
        rfc = Snmpsim(self, "ups-rfc1628").start()
        sw = Snmpsim(self, "switch").start()
        site = Site(self)
        snmp_device(site, "apc", {"address": apc.address, "community": "ups-apc",
                                  "profile": "auto"})
        # sysObjectID 1.3.6.1.2.1.33 is not APC's: the UPS-MIB answers.
        snmp_device(site, "rfc", {"address": rfc.address, "community": "ups-rfc1628",
                                  "profile": "auto"})
        snmp_device(site, "sw", {"address": sw.address, "community": "switch",
                                 "profile": "auto"})
        # SNMPv1 answers the missing upsIdentManufacturer with noSuchName.
        snmp_device(site, "sw1", {"address": sw.address, "community": "switch",
                                  "profile": "auto", "version": "1"})
        site.start()
        m = ok_with(site, "apc", profile="ups-apc", status="OL")
        self.assertAlmostEqual(m["charge_pct"]["value"], 99.5)
        self.assertNotIn("alarms", m)
        m = ok_with(site, "rfc", profile="ups-rfc1628", status="OL", alarms="")
        self.assertEqual(m["runtime_s"]["value"], 42 * 60)
        for name, why in (("sw", "noSuchInstance"), ("sw1", "noSuchName")):
            d = wait_for(lambda: site.dev(name), lambda d: d["contact"] == "lost",
                         timeout=15, what="%s contact lost" % name)
            self.assertIn("auto: not a UPS this probe knows: sysObjectID "
                          "1.3.6.1.4.1.8072.3.2.10", d["reason"])
            self.assertIn(why, d["reason"])
            self.assertEqual(d["metrics"], [])

    def test_decided_again_after_contact_lost(self):
        sim = Snmpsim(self, "ups-rfc1628").start()
        site = Site(self)
        snmp_device(site, "ups", {"address": sim.address, "community": "ups-rfc1628",
                                  "profile": "auto"})
        site.start()
        ok_with(site, "ups", profile="ups-rfc1628", status="OL")
        # Another UPS (an APC) answers at the same address once contact is back.
        sim.stop()
        wait_for(lambda: site.dev("ups"), lambda d: d["contact"] == "lost",
                 timeout=15, what="contact lost")
        sim.replace("ups-rfc1628", "ups-apc")
        sim.start()
        m = ok_with(site, "ups", profile="ups-apc", status="OL")
        self.assertAlmostEqual(m["charge_pct"]["value"], 99.5)
        self.assertEqual(m["alarms"]["quality"], "error")
        self.assertIn("auto now chose ups-apc", m["alarms"]["reason"])


IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"


class Links(unittest.TestCase):
    def test_status_rates_and_reset(self):
        sw = Snmpsim(self, "switch").start()
        site = Site(self)
        links = [
            {"name": "wan", "match": "ifName", "value": "ge-0/0/1", "role": "wan"},
            {"name": "lan", "match": "ifAlias", "value": "LAN core", "role": "lan"},
            {"name": "byindex", "match": "ifIndex", "value": "2"},
            {"name": "bydescr", "match": "ifDescr", "value": "GigabitEthernet0/0/1",
             "role": "internet"},
            {"name": "ghost", "value": "ge-9/9/9"},
        ]
        # Polls a second apart: rates less sensitive to a loaded machine, and
        # the poll after a counter reset lasts long enough to be seen.
        snmp_device(site, "sw", {"address": sw.address, "community": "switch",
                                 "links": links}, interval=1, timeout=0.5)
        # v1 walks with GETNEXT.
        snmp_device(site, "sw1", {"address": sw.address, "community": "switch",
                                  "version": "1", "links": links[:1]})
        site.start()
        ok_with(site, "sw", wan_up=True, wan_state="up", wan_role="wan",
                lan_state="up", lan_role="lan", byindex_state="up",
                byindex_role="other", bydescr_state="up", bydescr_role="internet",
                ghost_role="other")
        ok_with(site, "sw1", wan_up=True, wan_state="up")
        rates = ("in_bps", "out_bps", "in_pct", "out_pct", "in_errors_ps",
                 "out_errors_ps")
        m = wait_for(lambda: site.metrics("sw"),
                     lambda m: all(m["%s_%s" % (l, r)]["quality"] == "ok"
                                   for l in ("wan", "lan") for r in rates),
                     timeout=15, what="rates")
        v = {k: x["value"] for k, x in m.items()}
        # ifHCInOctets grows by 125,000 octets/s: 1 Mbit/s of a 100 Mbit/s link.
        self.assertTrue(0.5e6 < v["wan_in_bps"] < 2e6, v["wan_in_bps"])
        self.assertTrue(0.5e5 < v["wan_out_bps"] < 2e5, v["wan_out_bps"])
        self.assertTrue(0.5 < v["wan_in_pct"] < 2, v["wan_in_pct"])
        self.assertTrue(15 < v["wan_in_errors_ps"] < 60, v["wan_in_errors_ps"])
        self.assertEqual(v["wan_out_errors_ps"], 0)
        self.assertTrue(0.5 * 8000 < v["lan_in_bps"] < 2 * 8000, v["lan_in_bps"])
        # 8 kbit/s of 1 Gbit/s.
        self.assertTrue(0.0004 < v["lan_in_pct"] < 0.0016, v["lan_in_pct"])
        self.assertEqual(m["wan_in_bps"]["unit"], "bit/s")
        self.assertEqual(m["wan_in_pct"]["unit"], "%")
        self.assertEqual(m["ghost_up"]["quality"], "error")
        self.assertIn('no interface with ifName "ge-9/9/9"', m["ghost_up"]["reason"])
        self.assertIn('no interface', m["ghost_in_bps"]["reason"])

        # Oper down while admin up: down; admin down: disabled.
        sw.set("switch", IF + ".8.1", "i", 2)
        ok_with(site, "sw", wan_up=False, wan_state="down", bydescr_state="down",
                lan_state="up")
        sw.set("switch", IF + ".7.1", "i", 2)
        ok_with(site, "sw", wan_up=False, wan_state="disabled")
        sw.set("switch", IF + ".7.1", "i", 1)
        sw.set("switch", IF + ".8.1", "i", 1)
        ok_with(site, "sw", wan_up=True, wan_state="up")

        # ifCounterDiscontinuityTime changes: no rate for that poll.
        sw.set("switch", IFX + ".19.2", "t", 500, reads="0:0:00:05.00")
        m = wait_for(lambda: site.metrics("sw"),
                     lambda m: m["lan_in_bps"]["quality"] == "error",
                     timeout=15, interval=0.02, what="a counter reset")
        self.assertEqual(m["lan_in_bps"]["reason"], "counter reset")
        self.assertEqual(m["byindex_out_bps"]["reason"], "counter reset")
        wait_for(lambda: site.metrics("sw"),
                 lambda m: m["lan_in_bps"]["quality"] == "ok",
                 timeout=15, what="rates again")
        self.assertEqual(site.dev("sw")["contact"], "ok")

        # The interface found no longer has the alias: looked up again.
        sw.set("switch", IFX + ".18.2", "s", "LAN old", reads='"LAN old"')
        m = wait_for(lambda: site.metrics("sw"),
                     lambda m: m["lan_up"]["quality"] == "error",
                     timeout=15, what="lan lost")
        self.assertRegex(m["lan_up"]["reason"],
                         r'ifAlias.2 is no more "LAN core"|no interface with '
                         r'ifAlias "LAN core"')
        self.assertEqual(m["lan_role"]["value"], "lan")
        self.assertEqual(m["byindex_state"]["value"], "up")
        sw.set("switch", IFX + ".18.2", "s", "LAN core", reads='"LAN core"')
        ok_with(site, "sw", lan_up=True, lan_state="up")


class Generic(unittest.TestCase):
    def test_points(self):
        agent = Snmpsim(self, "ups-apc").start()
        site = Site(self)
        points = [
            {"name": "ambient_temp", "oid": "1.3.6.1.4.1.318.1.1.2.1.1.0",
             "unit": "degC"},
            {"name": "humidity_frac", "oid": ".1.3.6.1.4.1.318.1.1.2.1.2.0",
             "scale": 0.01},
            {"name": "hp_load", "oid": APC + ".4.3.3.0", "scale": 0.1, "unit": "%"},
            {"name": "replace", "oid": APC + ".2.2.4.0", "type": "bool"},
            {"name": "missing", "oid": "1.3.6.1.4.1.318.1.1.2.1.9.0"},
            {"name": "wrong_type", "oid": APC + ".4.1.1.0", "type": "text"},
        ]
        # max_oids 2 splits the six OIDs over three GETs.
        snmp_device(site, "env1", {"address": agent.address, "community": "ups-apc",
                                   "max_oids": 2, "points": points})
        # SNMPv1 fails a whole GET on one missing OID (noSuchName): the
        # probe asks again without it.
        snmp_device(site, "env1v1", {"address": agent.address, "community": "ups-apc",
                                     "version": "1", "points": points})
        site.start()
        m = ok_with(site, "env1v1", ambient_temp=23, replace=True)
        self.assertEqual(m["missing"]["quality"], "error")
        self.assertIn("noSuchName", m["missing"]["reason"])
        self.assertAlmostEqual(m["hp_load"]["value"], 41.2)
        m = ok_with(site, "env1", ambient_temp=23, replace=True)
        self.assertEqual(m["ambient_temp"]["unit"], "degC")
        self.assertAlmostEqual(m["humidity_frac"]["value"], 0.45)
        self.assertAlmostEqual(m["hp_load"]["value"], 41.2)
        self.assertEqual(m["missing"]["quality"], "error")
        self.assertIsNone(m["missing"]["value"])
        self.assertIn("noSuch", m["missing"]["reason"])
        self.assertEqual(m["wrong_type"]["quality"], "error")
        self.assertIn("expected text", m["wrong_type"]["reason"])
        self.assertEqual(site.dev("env1")["contact"], "ok")


    def test_error_status_per_oid(self):
        """An agent refusing single objects (genErr, authorizationError,
        noSuchName), answering tooBig to a GET of more than three objects,
        sending an IpAddress where a number is expected: each point says
        why, the others keep their readings, the device stays in contact."""
        agent = ErrstatAgent(self, "errors")
        site = Site(self)
        base = "1.3.6.1.4.1.99999.1."
        points = [
            {"name": "temp", "oid": base + "1.0"},
            {"name": "broken", "oid": base + "2.0"},
            {"name": "humidity", "oid": base + "3.0"},
            {"name": "forbidden", "oid": base + "4.0"},
            {"name": "address", "oid": base + "5.0"},
            {"name": "negative", "oid": base + "6.0"},
            {"name": "absent", "oid": base + "9.0"},
        ]
        for v in ("2c", "1"):
            snmp_device(site, "box" + v, {"address": agent.address,
                                          "community": "errors", "version": v,
                                          "points": points})
        site.start()
        for v in ("2c", "1"):
            m = ok_with(site, "box" + v, temp=21, humidity=55, negative=-7)
            self.assertEqual(m["broken"]["quality"], "error", v)
            self.assertIsNone(m["broken"]["value"])
            self.assertEqual(m["broken"]["reason"], base + "2.0: genErr")
            self.assertEqual(m["forbidden"]["quality"], "error")
            self.assertEqual(m["forbidden"]["reason"],
                             base + "4.0: " + ("authorizationError" if v == "2c"
                                               else "noSuchName"))
            self.assertEqual(m["address"]["quality"], "error")
            self.assertEqual(m["address"]["reason"],
                             base + "5.0: unexpected ASN.1 type 0x40")
            self.assertEqual(m["absent"]["quality"], "error")
            self.assertEqual(m["absent"]["reason"],
                             base + "9.0: " + ("noSuchObject" if v == "2c"
                                               else "noSuchName"))
            d = site.dev("box" + v)
            self.assertEqual((d["contact"], d["missed"], d["failures"]), ("ok", 0, 0))


class Failures(unittest.TestCase):
    def test_wrong_community_times_out(self):
        ups = Snmpsim(self, "ups-rfc1628").start()
        site = Site(self)
        snmp_device(site, "good", {"address": ups.address, "community": "ups-rfc1628",
                                   "profile": "ups-rfc1628"})
        snmp_device(site, "bad", {"address": ups.address, "community": "nope",
                                  "profile": "ups-rfc1628"})
        site.start()
        d = wait_for(lambda: site.dev("bad"), lambda d: d["contact"] == "lost",
                     timeout=15, what="contact lost")
        self.assertIn("no answer", d["reason"])
        self.assertEqual(d["metrics"], [])
        ok_with(site, "good", status="OL")
        self.assertEqual(site.sonae("status").rc, EXIT_OK)

    def test_agent_killed_and_back(self):
        ups = Snmpsim(self, "ups-rfc1628").start()
        site = Site(self)
        snmp_device(site, "ups1", {"address": ups.address, "community": "ups-rfc1628",
                                   "profile": "ups-rfc1628"})
        site.start()
        ok_with(site, "ups1", status="OL")
        ups.stop()
        d = wait_for(lambda: site.dev("ups1"), lambda d: d["contact"] == "lost",
                     timeout=15, what="contact lost")
        self.assertTrue(d["reason"])
        self.assertTrue(all(m["quality"] == "stale" for m in d["metrics"]), d["metrics"])
        ups.start()
        ok_with(site, "ups1", status="OL")

    def test_reload_fixes_community(self):
        ups = Snmpsim(self, "ups-rfc1628").start()
        site = Site(self)
        dev = snmp_device(site, "ups1", {"address": ups.address, "community": "nope",
                                         "profile": "ups-rfc1628"})
        site.start()
        wait_for(lambda: site.dev("ups1"), lambda d: d["contact"] == "lost",
                 timeout=15, what="contact lost")
        # The session is closed with requests still outstanding, and a new
        # one opened with the right community.
        dev["snmp"]["community"] = "ups-rfc1628"
        site.write_config()
        r = site.sonae("reload")
        self.assertEqual(r.rc, EXIT_OK, r)
        ok_with(site, "ups1", status="OL")
        # And removed again: the daemon stays up.
        site.devices.remove(dev)
        site.write_config()
        self.assertEqual(site.sonae("reload").rc, EXIT_OK)
        self.assertNotEqual(site.sonae("device", "ups1").rc, EXIT_OK)
        self.assertEqual(site.sonae("status").rc, EXIT_OK)

    def test_numeric_address_required(self):
        site = Site(self)
        snmp_device(site, "ups1", {"address": "udp:ups1.example.org:161",
                                   "community": "public", "profile": "ups-rfc1628"})
        snmp_device(site, "ups2", {"address": "udp:127.0.0.1:161", "version": "3",
                                   "user": "u", "auth_password": "short",
                                   "profile": "ups-rfc1628"})
        snmp_device(site, "env", {"address": "udp6:[::1]:1161", "community": "public",
                                  "points": [{"name": "t", "oid": "sysUpTime.0"}]})
        site.write_config()
        r = site.sonae("validate", site.conf)
        self.assertNotEqual(r.rc, EXIT_OK)
        text = r.out + r.err
        self.assertIn("numeric agent address", text)
        self.assertIn("priv_password", text)  # authPriv is the default level
        self.assertIn("at least 8 characters", text)
        self.assertIn("not a numeric OID", text)


class V3(unittest.TestCase):
    def test_authpriv(self):
        agent = Snmpd(self, [
            'createUser sonae SHA "authpass123" AES "privpass123"',
            'createUser sonae256 SHA-256 "authpass256" AES "privpass256"',
            'createUser other SHA "otherpass1" AES "otherpass1"',
            'createUser other2 SHA "other2auth" AES "other2priv"',
            "rouser sonae priv", "rouser sonae256 priv", "rouser other priv",
            "rouser other2 priv",
            "override 1.3.6.1.4.1.318.1.1.2.1.1.0 integer 21",
        ]).start(["-v3", "-l", "authPriv", "-u", "sonae", "-a", "SHA", "-A",
                  "authpass123", "-x", "AES", "-X", "privpass123"])
        site = Site(self)
        point = [{"name": "ambient_temp", "oid": "1.3.6.1.4.1.318.1.1.2.1.1.0",
                  "unit": "degC"}]
        site.write("priv.secret", "privpass123\n", mode=0o600)
        snmp_device(site, "sha", {"address": agent.address, "version": "3",
                                  "user": "sonae", "auth_password": "authpass123",
                                  "priv_password": {"file": "priv.secret"},
                                  "points": point})
        snmp_device(site, "sha256", {"address": agent.address, "version": "3",
                                     "user": "sonae256", "auth_protocol": "SHA-256",
                                     "auth_password": "authpass256",
                                     "priv_password": "privpass256", "points": point})
        snmp_device(site, "wrongkey", {"address": agent.address, "version": "3",
                                       "user": "other", "auth_password": "not-the-key",
                                       "priv_password": "otherpass1", "points": point})
        snmp_device(site, "wrongpriv", {"address": agent.address, "version": "3",
                                        "user": "other2", "auth_password": "other2auth",
                                        "priv_password": "not-the-priv", "points": point})
        snmp_device(site, "nouser", {"address": agent.address, "version": "3",
                                     "user": "ghost", "auth_password": "authpass123",
                                     "priv_password": "privpass123", "points": point})
        site.start()
        ok_with(site, "sha", ambient_temp=21)
        ok_with(site, "sha256", ambient_temp=21)

        d = wait_for(lambda: site.dev("wrongkey"), lambda d: d["contact"] == "lost",
                     timeout=15, what="contact lost")
        self.assertIn("Authentication failure", d["reason"])
        self.assertEqual(d["last_status"], "auth")
        d = wait_for(lambda: site.dev("nouser"), lambda d: d["contact"] == "lost",
                     timeout=15, what="contact lost")
        self.assertIn("Unknown user name", d["reason"])
        d = wait_for(lambda: site.dev("wrongpriv"), lambda d: d["contact"] == "lost",
                     timeout=15, what="contact lost")
        # snmpd cannot decrypt the request and, unlike a wrong auth key,
        # sends no report for it (snmpget times out too).
        self.assertEqual(d["last_status"], "timeout", d["reason"])
        self.assertIn("no answer", d["reason"])
        self.assertEqual(site.dev("sha")["contact"], "ok")

        # The agent restarts (engine boots go up): contact comes back.
        agent.stop()
        wait_for(lambda: site.dev("sha"), lambda d: d["contact"] == "lost",
                 timeout=15, what="contact lost")
        agent.start(agent.probe_args)
        ok_with(site, "sha", ambient_temp=21)
        # The agent comes back without its persistent state.
        agent.stop(forget=True)
        wait_for(lambda: site.dev("sha256"), lambda d: d["contact"] == "lost",
                 timeout=15, what="contact lost")
        agent.start(agent.probe_args)
        ok_with(site, "sha", ambient_temp=21)
        ok_with(site, "sha256", ambient_temp=21)

        # A second device as the same user on the same agent with other
        # passwords would overwrite net-snmp's keys for the first: refused.
        snmp_device(site, "shadow", {"address": agent.address, "version": "3",
                                     "user": "sonae", "auth_password": "authpass999",
                                     "priv_password": "privpass123", "points": point})
        site.write_config()
        r = site.sonae("reload")
        self.assertEqual(r.rc, EXIT_OK, r)
        d = wait_for(lambda: site.dev("shadow"), lambda d: d["contact"] == "lost",
                     timeout=15, what="contact lost")
        self.assertIn('also used by device "sha"', d["reason"])
        self.assertEqual(d["last_status"], "auth")
        polls = site.dev("sha")["polls"]
        wait_until(lambda: site.dev("sha")["polls"] >= polls + 3, timeout=10)
        ok_with(site, "sha", ambient_temp=21)
        self.assertIn('also used by device "sha"', site.dev("shadow")["reason"])


if __name__ == "__main__":
    unittest.main()
