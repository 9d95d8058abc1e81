"""
The modbus probe against a foreign peer: pymodbus (tests/integration/
modbus_server.py) on loopback, and on a pseudo-terminal pair made by socat for
RTU.  Known byte patterns for every table, type and word/byte order, base 0
and 1, bits and masks, sentinels, exceptions, a wrong unit id, a server that
goes away and comes back, one that never answers, and writes read back
(through tests/modbus_write.c, which calls modbus_write_point()).
"""
import math
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import (SONAE_SRC, SONAED, ModbusServer, Site, modbus_device, run,
                     wait_for, wait_until)

PROFILES = os.path.join(SONAE_SRC, "etc", "profiles", "modbus")
MODBUS_WRITE = os.path.join(os.path.dirname(SONAED), "..", "tests", "modbus_write")


def ok_with(site, name, timeout=15, **want):
    """Wait until device name's contact is ok and its metrics have want
    (a value, or a callable taking the metric's JSON); return the metrics."""
    def get():
        d = site.dev(name)
        return d, {m["name"]: m for m in d["metrics"]}

    def cond(v):
        d, m = v
        if d["contact"] != "ok":
            return False
        for k, x in want.items():
            if k not in m:
                return False
            if callable(x):
                if not x(m[k]):
                    return False
            elif m[k].get("value") != x or m[k].get("quality") != "ok":
                return False
        return True
    return wait_for(get, cond, timeout=timeout, what="%s to show %r" % (name, want))[1]


def error_with(text):
    return lambda m: m.get("quality") == "error" and text in (m.get("reason") or "")


# (name, table, address, type, order, registers, value): the registers are the
# bytes as they go over the wire.
PATTERNS = [
    ("i16_abcd", "holding", 0, "int16", "ABCD", [0xfffe], -2),
    ("i16_badc", "holding", 1, "int16", "BADC", [0xfeff], -2),
    ("u16_abcd", "input", 0, "uint16", "ABCD", [0xffff], 65535),
    ("i32_abcd", "holding", 10, "int32", "ABCD", [0xf8a4, 0x32eb], -123456789),
    ("i32_cdab", "holding", 12, "int32", "CDAB", [0x32eb, 0xf8a4], -123456789),
    ("i32_badc", "holding", 14, "int32", "BADC", [0xa4f8, 0xeb32], -123456789),
    ("i32_dcba", "holding", 16, "int32", "DCBA", [0xeb32, 0xa4f8], -123456789),
    ("u32_cdab", "input", 10, "uint32", "CDAB", [0x5678, 0x1234], 0x12345678),
    ("i64_abcd", "holding", 20, "int64", "ABCD", [0xffff, 0xfee0, 0x8e04, 0xfb35],
     -1234567890123),
    ("i64_dcba", "holding", 24, "int64", "DCBA", [0x35fb, 0x048e, 0xe0fe, 0xffff],
     -1234567890123),
    ("u64_cdab", "input", 20, "uint64", "CDAB", [0x0700, 0x0506, 0x0304, 0x0102],
     72623859790382848),
    ("f32_abcd", "holding", 30, "float32", "ABCD", [0xc1ac, 0x0000], -21.5),
    ("f32_cdab", "holding", 32, "float32", "CDAB", [0x0000, 0xc1ac], -21.5),
    ("f32_badc", "holding", 34, "float32", "BADC", [0xacc1, 0x0000], -21.5),
    ("f32_dcba", "holding", 36, "float32", "DCBA", [0x0000, 0xacc1], -21.5),
    ("f64_abcd", "input", 30, "float64", "ABCD", [0xc006, 0, 0, 0], -2.75),
    ("f64_dcba", "input", 34, "float64", "DCBA", [0, 0, 0, 0x06c0], -2.75),
]
# (name, type, order, registers, reason in the metric)
NOT_NUMBERS = [
    ("f32_nan", "float32", "ABCD", [0x7fc0, 0x0000], "NaN"),
    ("f32_inf", "float32", "CDAB", [0x0000, 0x7f80], "+infinity"),
    ("f64_ninf", "float64", "ABCD", [0xfff0, 0, 0, 0], "-infinity"),
]


class Tcp(unittest.TestCase):
    """One pymodbus server, one daemon with every kind of point."""

    @classmethod
    def setUpClass(cls):
        cls.srv = ModbusServer(cls).start()
        srv = cls.srv
        points = []
        for name, table, addr, typ, order, regs, _ in PATTERNS:
            srv.set(table, addr, *regs)
            points.append({"name": name, "table": table, "address": addr,
                           "type": typ, "order": order})
        for i, (name, typ, order, regs, _) in enumerate(NOT_NUMBERS):
            srv.set("holding", 100 + 4 * i, *regs)
            points.append({"name": name, "table": "holding", "address": 100 + 4 * i,
                           "type": typ, "order": order})
        srv.set("holding", 60, 0x5431, 0x3036, 0x3020, 0x2020)  # "T1060  "
        srv.set("coil", 5, 1)
        srv.set("discrete", 7, 1)
        srv.set("input", 50, 0x0005, 0x0a50)  # status word; a 4-bit field
        srv.set("holding", 70, 215)
        points += [
            {"name": "model", "table": "holding", "address": 60, "type": "string",
             "length": 8},
            {"name": "relay", "table": "coil", "address": 5, "type": "bit"},
            {"name": "relay_off", "table": "coil", "address": 6, "type": "bit"},
            {"name": "door", "table": "discrete", "address": 7, "type": "bit"},
            {"name": "leak", "table": "input", "address": 50, "type": "bit", "bit": 0},
            {"name": "cable_break", "table": "input", "address": 50, "type": "bit",
             "bit": 1},
            {"name": "any_fault", "table": "input", "address": 50, "type": "bit",
             "mask": 0x6},
            {"name": "field", "table": "input", "address": 51, "mask": 0x0f00},
            {"name": "temp", "table": "holding", "address": 70, "type": "int16",
             "scale": 0.1, "offset": -1, "unit": "degC"},
            {"name": "beyond", "table": "input", "address": 1000},
        ]
        cls.site = Site(cls)
        modbus_device(cls.site, "m0", {"address": srv.address, "points": points})
        # Base 1: register 71 of the manual is protocol address 70.
        modbus_device(cls.site, "m1", {"address": srv.address, "base": "1", "points": [
            {"name": "temp", "table": "holding", "address": 71, "type": "int16",
             "scale": 0.1}]})
        # The Comet profile: its error codes (below -32000) are not readings.
        srv.set("holding", 0x31, 231, 0x10000 - 32003, 0, 0, 112)
        modbus_device(cls.site, "comet", {
            "address": srv.address,
            "profile": os.path.join(PROFILES, "comet-t0610.conf")})
        cls.site.start()
        cls.m = ok_with(cls.site, "m0", temp=20.5)

    def test_types_and_orders(self):
        for name, _, _, _, _, _, value in PATTERNS:
            self.assertEqual(self.m[name]["quality"], "ok", name)
            self.assertEqual(self.m[name]["value"], value, name)

    def test_nan_and_infinity_are_errors(self):
        for name, _, _, _, reason in NOT_NUMBERS:
            self.assertEqual(self.m[name]["quality"], "error", name)
            self.assertIn(reason, self.m[name]["reason"], name)

    def test_bits_strings_scale(self):
        m = self.m
        self.assertEqual(m["model"]["value"], "T1060")
        self.assertIs(m["relay"]["value"], True)
        self.assertIs(m["relay_off"]["value"], False)
        self.assertIs(m["door"]["value"], True)
        self.assertIs(m["leak"]["value"], True)
        self.assertIs(m["cable_break"]["value"], False)
        self.assertIs(m["any_fault"]["value"], True)
        self.assertEqual(m["field"]["value"], 10)
        self.assertEqual(m["temp"]["unit"], "degC")

    def test_base_one(self):
        ok_with(self.site, "m1", temp=21.5)

    def test_exception_is_a_reason(self):
        self.assertEqual(self.m["beyond"]["quality"], "error")
        self.assertIn("exception 2 (Illegal data address) reading input registers 1000",
                      self.m["beyond"]["reason"])
        self.assertEqual(self.site.dev("m0")["contact"], "ok")

    def test_sentinel_and_profile(self):
        m = ok_with(self.site, "comet", temperature=23.1, dew_point=11.2,
                    humidity=error_with("error code -32003"))
        self.assertEqual(m["temperature"]["unit"], "degC")
        self.srv.set("holding", 0x32, 455)
        ok_with(self.site, "comet", humidity=45.5)

    def test_value_changes(self):
        self.srv.set("holding", 70, 0x10000 - 52)
        ok_with(self.site, "m0", temp=-6.2)
        self.srv.set("holding", 70, 215)
        ok_with(self.site, "m0", temp=20.5)


class Failures(unittest.TestCase):
    def test_wrong_unit_id(self):
        srv = ModbusServer(self, units=[1]).start()
        srv.set("holding", 3, 42, unit=1)
        site = Site(self)
        pt = [{"name": "v", "table": "holding", "address": 3}]
        modbus_device(site, "right", {"address": srv.address, "unit": 1, "points": pt})
        modbus_device(site, "wrong", {"address": srv.address, "unit": 2, "points": pt})
        site.start()
        ok_with(site, "right", v=42)
        d = wait_for(lambda: site.dev("wrong"), lambda d: d["contact"] == "lost",
                     what="the wrong unit id to lose contact")
        self.assertIn("no answer", d["reason"])
        self.assertEqual(d["last_status"], "timeout")
        ok_with(site, "right", v=42)

    def test_server_stops_and_comes_back(self):
        srv = ModbusServer(self).start()
        srv.set("input", 1, 7)
        site = Site(self)
        modbus_device(site, "env", {"address": srv.address, "points": [
            {"name": "v", "table": "input", "address": 1}]})
        site.start()
        ok_with(site, "env", v=7)
        srv.stop()
        d = wait_for(lambda: site.dev("env"), lambda d: d["contact"] == "lost",
                     what="contact lost")
        self.assertIn("connect", d["reason"])
        m = {x["name"]: x for x in d["metrics"]}
        self.assertEqual(m["v"]["quality"], "stale")
        srv.start()  # the same port, tables zeroed
        srv.set("input", 1, 8)
        ok_with(site, "env", v=8)

    def test_silent_server_does_not_stall_others(self):
        silent = ModbusServer(self, silent=True).start()
        live = ModbusServer(self).start()
        live.set("input", 1, 5)
        site = Site(self)
        pt = [{"name": "v", "table": "input", "address": 1}]
        modbus_device(site, "mute", {"address": silent.address, "points": pt},
                      interval=0.3, timeout=0.25)
        modbus_device(site, "live", {"address": live.address, "points": pt},
                      interval=0.3, timeout=0.25)
        site.start()
        ok_with(site, "live", v=5)
        wait_for(lambda: site.dev("mute"), lambda d: d["contact"] == "lost",
                 what="the silent server's device to lose contact")
        a = site.dev("live")
        time.sleep(3)
        b = site.dev("live")
        polls = b["polls"] - a["polls"]
        self.assertGreaterEqual(polls, 9, "live device polled %d times in 3 s" % polls)
        self.assertEqual(b["failures"], a["failures"])
        self.assertIn("no answer", site.dev("mute")["reason"])


def connections_to(port):
    """Established TCP connections to 127.0.0.1:port (/proc/net/tcp)."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            w = line.split()
            if w[2] == "0100007F:%04X" % port and w[3] == "01":
                n += 1
    return n


class Connections(unittest.TestCase):
    def test_cap_per_gateway(self):
        srv = ModbusServer(self).start()
        srv.set("input", 1, 9)
        site = Site(self)
        pt = [{"name": "v", "table": "input", "address": 1}]
        for u in (1, 2, 3):
            modbus_device(site, "shared%d" % u, {"address": srv.address, "unit": u,
                                                 "points": pt})
        other = ModbusServer(self).start()
        for u in (1, 2, 3):
            modbus_device(site, "capped%d" % u, {"address": other.address, "unit": u,
                                                 "max_connections": 2, "points": pt})
        site.start()
        for u in (1, 2, 3):
            ok_with(site, "shared%d" % u, v=9)
            ok_with(site, "capped%d" % u, v=0)
        self.assertEqual(connections_to(srv.port), 1)
        self.assertEqual(connections_to(other.port), 2)


class Rtu(unittest.TestCase):
    """Modbus RTU over a pseudo-terminal pair (socat) to pymodbus's serial server."""

    def test_rtu_bus(self):
        socat = shutil.which("socat")
        self.assertIsNotNone(socat, "socat is not installed (scripts/setup.sh)")
        d = tempfile.mkdtemp(prefix="sonae-pty-")
        self.addCleanup(shutil.rmtree, d, True)
        a, b = os.path.join(d, "a"), os.path.join(d, "b")
        p = subprocess.Popen([socat, "pty,raw,echo=0,link=" + a,
                              "pty,raw,echo=0,link=" + b],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        self.addCleanup(lambda: (p.terminate(), p.wait()))
        wait_until(lambda: os.path.exists(a) and os.path.exists(b), what="socat ptys")
        srv = ModbusServer(self, serial=b, units=[1, 2]).start()
        srv.set("input", 1, 0x10000 - 15, 456, unit=1)
        srv.set("holding", 0, 0x4142, 0x4344, unit=2)
        site = Site(self)
        modbus_device(site, "th1", {"address": "rtu:" + a, "unit": 1, "baud": 9600,
                                    "profile": os.path.join(PROFILES, "xy-md02.conf")},
                      interval=0.5, timeout=0.45)
        modbus_device(site, "dev2", {"address": "rtu:" + a, "unit": 2, "points": [
            {"name": "tag", "table": "holding", "address": 0, "type": "string",
             "length": 4}]}, interval=0.5, timeout=0.45)
        # No such unit on the bus: skipped with backoff, the others keep going.
        modbus_device(site, "gone", {"address": "rtu:" + a, "unit": 9, "points": [
            {"name": "v", "table": "input", "address": 1}]}, interval=0.5, timeout=0.45)
        site.start()
        ok_with(site, "th1", temperature=-1.5, humidity=45.6)
        ok_with(site, "dev2", tag="ABCD")
        wait_for(lambda: site.dev("gone"), lambda d: d["contact"] == "lost",
                 what="unit 9 to lose contact")
        before = site.dev("th1")
        time.sleep(3)
        after = site.dev("th1")
        self.assertGreaterEqual(after["polls"] - before["polls"], 5)
        self.assertEqual(after["failures"], before["failures"])


class Writes(unittest.TestCase):
    def setUp(self):
        self.srv = ModbusServer(self).start()
        self.site = Site(self)
        modbus_device(self.site, "out1", {"address": self.srv.address, "points": [
            {"name": "siren", "table": "coil", "address": 3, "type": "bit",
             "writable": True},
            {"name": "setpoint", "table": "holding", "address": 8, "type": "float32",
             "order": "CDAB", "writable": True},
            {"name": "level", "table": "holding", "address": 12, "type": "int16",
             "scale": 0.1, "writable": True},
            {"name": "far", "table": "holding", "address": 299, "type": "int32",
             "writable": True},
            {"name": "fixed", "table": "holding", "address": 20}]})
        self.conf = self.site.write_config()
        self.conf = self.site.conf

    def write(self, point, value):
        r = run([MODBUS_WRITE, self.conf, "out1", point, str(value)], timeout=30)
        return r.rc, r.out.strip()

    def test_writes_read_back(self):
        self.assertEqual(self.write("siren", 1), (0, "ok"))
        self.assertEqual(self.srv.get("coil", 3), [1])
        self.assertEqual(self.write("setpoint", -21.5), (0, "ok"))
        self.assertEqual(self.srv.get("holding", 8, 2), [0x0000, 0xc1ac])
        self.assertEqual(self.write("level", -3.2), (0, "ok"))
        self.assertEqual(self.srv.get("holding", 12), [0x10000 - 32])
        self.assertEqual(self.write("siren", 0), (0, "ok"))
        self.assertEqual(self.srv.get("coil", 3), [0])

    def test_write_failures(self):
        rc, out = self.write("far", 1)  # 299..300: past the server's 300 registers
        self.assertEqual(rc, 1)
        self.assertIn("exception 2 (Illegal data address) writing holding registers "
                      "299..300", out)
        self.assertEqual(self.write("fixed", 1), (2, "refused"))
        self.assertEqual(self.write("level", 4000), (2, "refused"))
        self.srv.stop()
        rc, out = self.write("siren", 1)
        self.assertEqual(rc, 1)
        self.assertIn("Connection refused", out)


if __name__ == "__main__":
    unittest.main()
