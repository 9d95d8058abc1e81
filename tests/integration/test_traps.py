"""
The SNMP trap receiver against real peers: traps sent with Debian's snmptrap
from 127.0.0.1, devices simulated by snmpsimd and polled with a long
interval, so only the poll a trap asks for can show a change in time.
"""
import os
import socket
import time
import unittest

from harness import (EXIT_OK, Site, Snmpsim, Snmptrap, cfg_value, free_udp_port,
                     snmp_device, wait_for, wait_until)

RFC = "1.3.6.1.2.1.33.1"
APC = "1.3.6.1.4.1.318.1.1.1"
UPS_ON_BATTERY = "1.3.6.1.2.1.33.2.1"
COMMUNITY = "trap-secret"
SCENARIO = """\
0    up=true
end  10s
"""


def write_traps(site, port, **keys):
    """Write the site's configuration with a traps group on 127.0.0.1:port."""
    t = {"listen": "udp:127.0.0.1:%d" % port, "community": COMMUNITY}
    t.update(keys)
    return site.write_config(site.config_text() + "traps: " + cfg_value(t) + ";\n")


def slow_device(site, name, sim, community, **keys):
    """An snmp device polled once a minute: only a trap can make it look sooner."""
    return snmp_device(site, name, {"address": sim.address, "community": community,
                                    "profile": community.split("-basic")[0]
                                    if community.startswith("ups-apc")
                                    else "ups-rfc1628"},
                       interval=60, timeout=1, backoff_max=60, **keys)


def value(site, dev, metric):
    m = site.metrics(dev).get(metric)
    return None if m is None or m.get("quality") != "ok" else m.get("value")


def first_poll(site, name):
    """Poll now instead of waiting for the random first-poll offset."""
    wait_until(lambda: site.sonae("poll", name).rc == EXIT_OK, 5,
               what="sonae poll %s" % name)
    return wait_for(lambda: site.dev(name), lambda d: d["contact"] == "ok" and
                    d["polls"] >= 1, timeout=10, what="%s polled" % name)


def log_count(site, needle):
    return site.log_text().count(needle)


class KnownDevice(unittest.TestCase):
    def test_v2c_ups_on_battery_polls_now(self):
        ups = Snmpsim(self, "ups-rfc1628").start()
        site = Site(self)
        slow_device(site, "ups1", ups, "ups-rfc1628")
        port = free_udp_port()
        write_traps(site, port)
        site.start(write=False)
        first_poll(site, "ups1")
        self.assertIs(value(site, "ups1", "on_battery"), False)
        polls = site.dev("ups1")["polls"]

        ups.set("ups-rfc1628", RFC + ".4.1.0", "i", 5)
        trap = Snmptrap(port, COMMUNITY)
        self.addCleanup(trap.cleanup)
        sent = time.monotonic()
        trap.v2c(UPS_ON_BATTERY, (RFC + ".2.2.0", "i", 1), (RFC + ".2.3.0", "i", 40),
                 (RFC + ".2.1.0", "i", 2))
        wait_until(lambda: value(site, "ups1", "on_battery") is True, 3,
                   what="ups1.on_battery true after the trap")
        self.assertLess(time.monotonic() - sent, 3)
        d = site.dev("ups1")
        self.assertEqual(d["polls"], polls + 1)
        self.assertEqual(d["traps"], 1)
        self.assertEqual(d["last_trap"]["trap"], "ups-on-battery")
        self.assertEqual(value(site, "ups1", "status"), "OB")
        # The next scheduled poll is still about a minute away: the trap did it.
        t = site.ok("traps")
        self.assertEqual(t["listen"], "udp:127.0.0.1:%d" % port)
        self.assertEqual(t["counters"]["received"], 1)
        self.assertEqual(t["counters"]["polled"], 1)
        self.assertEqual(t["last"]["trap"], "ups-on-battery")
        self.assertTrue(t["last"]["peer"].startswith("127.0.0.1:"))
        self.assertIn('device "ups1": trap ups-on-battery from 127.0.0.1:',
                      site.log_text())
        j = [e for e in site.journal() if e["action"] == "device.trap"]
        self.assertEqual(len(j), 1)
        self.assertEqual(j[0]["detail"]["device"], "ups1")
        r = site.sonae("device", "ups1")
        self.assertIn("traps        1; last ups-on-battery", r.out)
        r = site.sonae("traps")
        self.assertEqual(r.rc, EXIT_OK)
        self.assertIn("received   1: 1 polled", r.out)

    def test_v1_apc_on_battery_and_link_down(self):
        apc = Snmpsim(self, "ups-apc").start()
        site = Site(self)
        slow_device(site, "apc1", apc, "ups-apc")
        port = free_udp_port()
        write_traps(site, port, poll_gap="100ms")
        site.start(write=False)
        first_poll(site, "apc1")
        self.assertIs(value(site, "apc1", "on_battery"), False)

        apc.set("ups-apc", APC + ".4.1.1.0", "i", 3)
        trap = Snmptrap(port, COMMUNITY)
        self.addCleanup(trap.cleanup)
        # PowerNet-MIB upsOnBattery: enterprise apc, specific trap 5.
        trap.v1("1.3.6.1.4.1.318", 6, 5, ("1.3.6.1.4.1.318.2.3.3.0", "s", "on battery"))
        wait_until(lambda: value(site, "apc1", "on_battery") is True, 3,
                   what="apc1.on_battery true after the v1 trap")
        self.assertEqual(site.dev("apc1")["last_trap"]["trap"], "apc-on-battery")

        # powerRestored (9), and a v1 linkDown (generic 2) with its ifIndex.
        apc.set("ups-apc", APC + ".4.1.1.0", "i", 2)
        trap.v1("1.3.6.1.4.1.318", 6, 9)
        wait_until(lambda: value(site, "apc1", "on_battery") is False, 3,
                   what="apc1.on_battery false after powerRestored")
        trap.v1("1.3.6.1.4.1.318", 2, 0, ("1.3.6.1.2.1.2.2.1.1.3", "i", 3))
        d = wait_for(lambda: site.dev("apc1"), lambda d: d["traps"] == 3, timeout=3,
                     what="the third trap")
        self.assertEqual(d["last_trap"]["trap"], "link-down (ifIndex 3)")
        t = site.ok("traps")["counters"]
        self.assertEqual(t["received"], 3)
        self.assertEqual(t["polled"] + t["coalesced"], 3)

    def test_wrong_community_is_dropped(self):
        ups = Snmpsim(self, "ups-rfc1628").start()
        site = Site(self)
        slow_device(site, "ups1", ups, "ups-rfc1628")
        port = free_udp_port()
        write_traps(site, port)
        site.start(write=False)
        first_poll(site, "ups1")
        polls = site.dev("ups1")["polls"]
        ups.set("ups-rfc1628", RFC + ".4.1.0", "i", 5)
        trap = Snmptrap(port, COMMUNITY)
        self.addCleanup(trap.cleanup)
        for _ in range(5):
            trap.v2c(UPS_ON_BATTERY, community="public")
        wait_for(lambda: site.ok("traps")["counters"], lambda c: c["bad_community"] == 5,
                 timeout=3, what="5 traps with a bad community")
        # A good trap afterwards shows the receiver is fine and the others did
        # not poll: exactly one poll more, from this one.
        trap.v2c(UPS_ON_BATTERY)
        wait_until(lambda: value(site, "ups1", "on_battery") is True, 3)
        d = site.dev("ups1")
        self.assertEqual(d["polls"], polls + 1)
        self.assertEqual(d["traps"], 1)
        self.assertEqual(log_count(site, "with the wrong community"), 1)
        self.assertEqual(site.ok("traps")["counters"]["polled"], 1)


class UnknownAndBroken(unittest.TestCase):
    def test_unknown_source_and_garbage(self):
        # A site with no snmp device at all: 127.0.0.1 is nobody's address.
        site = Site(self)
        site.device("r1", SCENARIO)
        port = free_udp_port()
        write_traps(site, port, log_interval="1h")
        site.start(write=False)
        trap = Snmptrap(port, COMMUNITY)
        self.addCleanup(trap.cleanup)
        for _ in range(12):
            trap.v2c(UPS_ON_BATTERY)
        c = wait_for(lambda: site.ok("traps")["counters"],
                     lambda c: c["unknown_source"] == 12, timeout=5,
                     what="12 traps from an unknown source")
        self.assertEqual(c["polled"], 0)
        self.assertEqual(log_count(site, "no snmp device has that address"), 1)

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        garbage = [b"", b"\x00", b"hello", b"\x30\x03\x02\x01\x01",
                   b"\x30\x82\xff\xff" + os.urandom(64), os.urandom(1500),
                   # a v2c GetRequest: well formed, but not a trap
                   bytes.fromhex("302602010104067075626c6963a019020101020100020100"
                                 "300e300c06082b060102010101000500")]
        for g in garbage:
            s.sendto(g, ("127.0.0.1", port))
        c = wait_for(lambda: site.ok("traps")["counters"],
                     lambda c: c["malformed"] + c["unsupported"] == len(garbage),
                     timeout=5, what="the garbage counted")
        self.assertEqual(c["received"], 12 + len(garbage))
        self.assertEqual(log_count(site, "dropped: "), 1)
        self.assertTrue(site.running())
        self.assertEqual(site.sonae("status").rc, EXIT_OK)

    def test_no_traps_group(self):
        site = Site(self)
        site.device("r1", SCENARIO)
        site.start()
        self.assertEqual(site.ok("traps"), {"enabled": False})
        r = site.sonae("traps")
        self.assertEqual(r.rc, EXIT_OK)
        self.assertIn("no receiver", r.out)


class Reload(unittest.TestCase):
    def test_reload_moves_keeps_and_closes(self):
        site = Site(self)
        site.device("r1", SCENARIO)
        a, b = free_udp_port(), free_udp_port()
        write_traps(site, a)
        site.start(write=False)
        trap = Snmptrap(a, COMMUNITY)
        self.addCleanup(trap.cleanup)

        def received():
            return site.ok("traps")["counters"]["received"]

        trap.v2c(UPS_ON_BATTERY)
        wait_until(lambda: received() == 1, 3)

        write_traps(site, b)
        self.assertEqual(site.sonae("reload").rc, EXIT_OK)
        self.assertEqual(site.ok("traps")["listen"], "udp:127.0.0.1:%d" % b)
        trap.v2c(UPS_ON_BATTERY, port=a)  # nobody listens there any more
        trap.v2c(UPS_ON_BATTERY, port=b)
        wait_until(lambda: received() == 2, 3)
        time.sleep(0.3)
        self.assertEqual(received(), 2)

        # A port that cannot be bound (taken): the reload goes on, the
        # receiver stays where it was and says why.
        busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        c = busy.getsockname()[1]
        write_traps(site, c, log_interval="5s")
        self.assertEqual(site.sonae("reload").rc, EXIT_OK)
        t = site.ok("traps")
        self.assertEqual(t["listen"], "udp:127.0.0.1:%d" % b)
        self.assertEqual(t["configured"], "udp:127.0.0.1:%d" % c)
        self.assertIn("cannot bind", t["error"])
        self.assertEqual(t["log_interval_s"], 5)
        self.assertIn("traps.listen udp:127.0.0.1:%d: cannot bind" % c, site.log_text())
        trap.v2c(UPS_ON_BATTERY, port=b)
        wait_until(lambda: received() == 3, 3)

        # No traps group: the receiver closes.
        site.write_config()
        self.assertEqual(site.sonae("reload").rc, EXIT_OK)
        self.assertEqual(site.ok("traps"), {"enabled": False})

    def test_bad_listen_is_refused(self):
        site = Site(self)
        site.device("r1", SCENARIO)
        text = write_traps(site, 1162).replace("udp:127.0.0.1:1162", "udp:localhost:1162")
        site.write_config(text)
        r = site.sonae("validate", site.conf)
        self.assertNotEqual(r.rc, EXIT_OK)
        self.assertIn("traps.listen", r.err)
        self.assertIn("numeric", r.err)


if __name__ == "__main__":
    unittest.main()
