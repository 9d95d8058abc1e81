"""Alerts end to end: the real daemon and CLI, mail to a real SMTP server
(aiosmtpd on loopback, tests/integration/smtp_server.py), SNMP agents
(snmpsim) and a Modbus server (pymodbus) for the beacon.

The mail as received (headers, Japanese text, threading); a burst of related
failures as one mail; escalation and the acknowledgement that stops it;
reminders; the recovery mail; the relay down for a while then back (every
mail exactly once, in order, then the catch-up digest, and the incident
"mail-undeliverable" raised and cleared with a syslog line each way); kill -9
with mail queued; failover to a second relay; STARTTLS with AUTH; rate limits
with their digest; the exec and beacon channels; `sonae notify-test` and
`sonae queue`.
"""
import json
import os
import shutil
import socket
import stat
import time
import unittest
from email.utils import parsedate_to_datetime

from harness import (EXIT_FAILED, EXIT_OK, ModbusServer, Site, SmtpSink, Snmpsim,
                     free_tcp_port, modbus_device, snmp_device, wait_for, wait_until)

RFC = "1.3.6.1.2.1.33.1"
IF = "1.3.6.1.2.1.2.2.1"
ON_BATTERY, ON_MAINS = 5, 3  # upsOutputSource
ICT, BOSS, OTHER = "ict@city.example.jp", "chief@city.example.jp", "other@city.example.jp"


def mail_site(test, sink, routes=None, relays=None, name="本庁舎", **mail):
    """A site that mails through sink (or relays) with the given routes."""
    site = Site(test, name=name)
    site.mail = {"from": "sonae@city.example.jp", "from_name": "sonae 本庁舎",
                 "relays": relays if relays is not None else [{"url": sink.url}],
                 "retry": 0.5, "retry_max": 1}
    site.mail.update(mail)
    site.routes = routes if routes is not None else [
        {"name": "all", "to": [ICT], "group_wait": 0, "repeat": 0}]
    return site


def declare(site, kind, text, severity="critical"):
    r = site.sonae("declare", kind, "--severity", severity, "-m", text)
    if r.rc != EXIT_OK:
        raise AssertionError("declare: %s" % r.err)
    return int(r.out.split("incident")[1].split()[0])


def incident_of(msg):
    return int(msg["X-Sonae-Incident"])


def rcpts(msg):
    return sorted(a.strip() for a in msg["X-RcptTo"].split(","))


def body(msg):
    return msg.get_body(("plain",)).get_content()


def timeline_events(site, id):
    return [t["event"] for t in site.incident(id=id)["timeline"]]


def queued(site):
    return site.ok("queue")["spool"]["count"]


class SyslogSocket:
    """A local syslog socket (datagrams) in the site folder, read by the test."""

    def __init__(self, test, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.lines = []
        test.addCleanup(self.sock.close)

    def read(self):
        while True:
            try:
                self.lines.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return self.lines

    def wait(self, needle, timeout=20):
        return wait_until(lambda: [l for l in self.read() if needle in l], timeout,
                          what="a syslog line with %r" % needle)


class MailFormat(unittest.TestCase):
    def test_headers_body_japanese_threading_and_recovery(self):
        sink = SmtpSink(self).start()
        site = mail_site(self, sink)
        site.start()
        id = declare(site, "power-outage", "停電 本庁舎の受電が停止、UPS で運転中")
        (first,) = sink.wait(1)
        # Subject: RFC 2047 on the wire, the site, severity and incident id.
        self.assertEqual(first["Subject"],
                         "[sonae 本庁舎] CRITICAL #%d: power-outage: 停電 本庁舎の受電が停止、UPS で運転中"
                         % id)
        raw = open(sink.files()[0], "rb").read()
        self.assertIn(b"Subject: =?UTF-8?B?", raw)
        self.assertNotIn("停電".encode(), raw.split(b"\n\n")[0], "headers are ASCII")
        self.assertEqual(first["From"].addresses[0].addr_spec, "sonae@city.example.jp")
        self.assertEqual(first["From"].addresses[0].display_name, "sonae 本庁舎")
        self.assertEqual(first["X-MailFrom"], "sonae@city.example.jp")
        self.assertEqual(rcpts(first), [ICT])
        self.assertEqual(incident_of(first), id)
        self.assertEqual(first.get_content_type(), "text/plain")
        self.assertEqual(first.get_content_charset(), "utf-8")
        self.assertEqual(first["Auto-Submitted"], "auto-generated")
        sent = parsedate_to_datetime(first["Date"])
        self.assertLess(abs(time.time() - sent.timestamp()), 60)
        self.assertIsNotNone(sent.utcoffset())
        root = first["Message-ID"]
        self.assertRegex(root, r"^<incident\.%d\.\d+\.[0-9a-f]+@city\.example\.jp>$" % id)
        self.assertIsNone(first["In-Reply-To"])
        text = body(first)
        for needle in ("本庁舎の受電が停止", "#%d" % id, "CRITICAL".lower(),
                       "sonae ack %d -m" % id, "sonae incident %d" % id,
                       "declared:power-outage", "未確認"):
            self.assertIn(needle, text.lower() if needle == "critical" else text)

        site.ok("resolve", str(id), "-m", "受電復旧")
        second = sink.wait(2)[1]
        self.assertEqual(second["Subject"],
                         "[sonae 本庁舎] RESOLVED #%d: power-outage: 停電 本庁舎の受電が停止、UPS で運転中"
                         % id)
        self.assertEqual(second["In-Reply-To"], root)
        self.assertIn(root, second["References"])
        self.assertNotEqual(second["Message-ID"], root)
        self.assertIn("受電復旧", body(second))
        self.assertIn("this closes the thread", body(second))
        # The incident's timeline and the journal say what was mailed.
        self.assertEqual(timeline_events(site, id).count("mail"), 2)
        actions = [e["action"] for e in site.journal()]
        self.assertEqual(actions.count("alert.mail"), 2)
        done = wait_until(lambda: [e["detail"] for e in site.journal()
                                   if e["action"] == "mail.delivered"], what="journaled")
        self.assertEqual(done[0]["incident"], id)
        self.assertEqual(done[0]["relay"], sink.url)
        time.sleep(1)
        self.assertEqual(len(sink.files()), 2, "nothing else was sent")
        self.assertEqual(site.stop(), 0)


class Grouping(unittest.TestCase):
    def test_a_burst_of_related_failures_is_one_mail(self):
        sink = SmtpSink(self).start()
        ups = Snmpsim(self, "ups-rfc1628").start()
        sw = Snmpsim(self, "switch").start()
        site = mail_site(self, sink, routes=[
            {"name": "all", "to": [ICT], "group_wait": 3, "repeat": 0}])
        snmp_device(site, "ups1", {"address": ups.address, "community": "ups-rfc1628",
                                   "profile": "ups-rfc1628"}, kind="ups")
        snmp_device(site, "wan1", {"address": sw.address, "community": "switch",
                                   "links": [{"name": "uplink", "match": "ifName",
                                              "value": "ge-0/0/1", "role": "wan"}]},
                    kind="router")
        site.rules = [
            {"name": "power-outage", "when": "ups1.on_battery",
             "inhibits": ["link-down"]},
            {"name": "link-down", "when": "any(role=wan, !up)", "severity": "warning"},
        ]
        site.start()
        wait_until(lambda: site.detectors()["link-down"]["state"] == "ok",
                   what="link-down evaluated")
        # The power fails; a second later the uplink goes with it.
        ups.set("ups-rfc1628", RFC + ".4.1.0", "i", ON_BATTERY)
        wait_until(lambda: site.incident("power-outage"), what="power-outage opens")
        sw.set("switch", IF + ".8.1", "i", 2)
        (mail,) = sink.wait(1, timeout=20)
        self.assertIn("power-outage", body(mail))
        self.assertIn("link-down", body(mail), "the folded link is in the one mail")
        self.assertIn("Readings", body(mail))
        self.assertIn("ups1.on_battery", body(mail))
        time.sleep(2)
        self.assertEqual(len(sink.files()), 1, "one mail for the burst")
        self.assertEqual(len(site.incidents(all=True)), 1)
        self.assertEqual(site.stop(), 0)


class Escalation(unittest.TestCase):
    def test_escalation_after_its_time_and_the_ack_that_stops_it(self):
        sink = SmtpSink(self).start()
        site = mail_site(self, sink, routes=[
            {"name": "critical", "severity": ["critical"], "to": [ICT], "group_wait": 0,
             "repeat": 0, "escalate": [{"after": 3, "to": [BOSS]}]}])
        site.start()
        t0 = time.monotonic()
        a = declare(site, "fire", "煙感知器 server room")
        first = sink.wait(1)[0]
        self.assertEqual(rcpts(first), [ICT])
        second = sink.wait(2, timeout=15)[1]
        self.assertGreaterEqual(time.monotonic() - t0, 3.0, "not before its time")
        self.assertEqual(incident_of(second), a)
        self.assertEqual(rcpts(second), sorted([ICT, BOSS]))
        self.assertIn("Escalation", body(second))
        self.assertEqual(second["In-Reply-To"], first["Message-ID"])
        self.assertIn("escalation", timeline_events(site, a))

        # The second incident is acknowledged in time: nobody else hears.
        b = declare(site, "water", "漏水 under the raised floor")
        wait_until(lambda: len(sink.files()) == 3, what="b's first mail")
        site.ok("ack", str(b), "-m", "on my way")
        time.sleep(4.5)
        mails = sink.messages()
        self.assertEqual([incident_of(m) for m in mails], [a, a, b])
        self.assertIn("escalation-stopped", timeline_events(site, b))
        self.assertEqual(site.stop(), 0)

    def test_reminders_until_acknowledged(self):
        sink = SmtpSink(self).start()
        site = mail_site(self, sink, routes=[
            {"name": "all", "to": [ICT], "group_wait": 0, "repeat": 1.5}])
        site.start()
        id = declare(site, "flood", "浸水")
        mails = sink.wait(2, timeout=15)
        self.assertIn("Reminder", body(mails[1]))
        site.ok("ack", str(id), "--sticky", "-m", "seen")
        # A reminder queued just before the ack may still be on its way.
        wait_until(lambda: queued(site) == 0, what="the queue empty")
        n = len(sink.files())
        time.sleep(3.5)
        self.assertEqual(len(sink.files()), n, "no reminder once acknowledged")
        self.assertEqual(site.stop(), 0)


class RelayOutage(unittest.TestCase):
    def test_down_then_back_exactly_once_in_order_with_the_incident_and_digest(self):
        sink = SmtpSink(self)  # not started: the relay is down
        sessions = os.path.join(sink.folder, "sessions")
        sink.extra = ["--sessions", sessions]
        site = mail_site(self, sink, down_after_failures=2, routes=[
            {"name": "mail-path", "rules": ["mail-undeliverable"], "channels": ["log"]},
            {"name": "all", "to": [ICT, OTHER], "group_wait": 0, "repeat": 0}])
        log = SyslogSocket(self, os.path.join(site.dir, "log.sock"))
        site.channels = [{"name": "log", "type": "syslog", "socket": log.path,
                          "facility": "local3"}]
        site.start()
        ids = [declare(site, "drill-%d" % k, "訓練 %d" % k) for k in range(5)]
        wait_until(lambda: site.incident("mail-undeliverable"), timeout=20,
                   what="the mail-undeliverable incident")
        down = log.wait("mail-undeliverable")[0]
        self.assertTrue(down.startswith("<%d>" % (19 * 8 + 2)), down)  # local3.crit
        q = site.ok("queue")
        self.assertEqual(q["spool"]["count"], 5)
        self.assertTrue(q["delivery"]["down"])
        m0 = q["spool"]["messages"][0]
        self.assertGreaterEqual(m0["attempts"], 1)
        self.assertIn("127.0.0.1", m0["last_error"] + (m0["last_relay"] or ""))
        self.assertIn("CANNOT LEAVE", site.sonae("queue").out)
        self.assertEqual(sink.files(), [])

        sink.start()
        mails = sink.wait(6, timeout=30)
        time.sleep(2)
        mails = sink.messages()
        self.assertEqual([incident_of(m) for m in mails[:5]], ids, "in order")
        self.assertEqual(len(mails), 6, "exactly once each, then the digest")
        with open(sessions) as f:
            conns = set(f.read().split("\n")) - {""}
        self.assertLess(len(conns), 4, "the queued mails ride one connection: %r" % conns)
        digest = mails[5]
        self.assertIn("DELAYED", digest["Subject"])
        self.assertEqual(rcpts(digest), sorted([ICT, OTHER]))
        for id in ids:
            self.assertIn("#%d" % id, body(digest))
        wait_until(lambda: site.incident("mail-undeliverable") is None,
                   what="mail-undeliverable resolved")
        log.wait("recovery")
        self.assertEqual(queued(site), 0)
        actions = [e["action"] for e in site.journal()]
        self.assertIn("mail.down", actions)
        self.assertIn("mail.up", actions)
        self.assertGreaterEqual(actions.count("mail.failed"), 2)
        self.assertEqual(actions.count("mail.delivered"), 6)
        self.assertEqual(site.stop(), 0)

    def test_kill9_with_mail_queued_delivers_all_after_restart(self):
        sink = SmtpSink(self)
        site = mail_site(self, sink, down_after_failures=1000, down_after=3600)
        site.start()
        ids = [declare(site, "k%d" % k, "queued %d" % k) for k in range(3)]
        wait_until(lambda: queued(site) == 3, what="three queued")
        site.kill9()
        sink.start()
        site.start()
        mails = sink.wait(3, timeout=30)
        time.sleep(2)
        self.assertEqual([incident_of(m) for m in sink.messages()], ids)
        self.assertEqual(queued(site), 0)
        self.assertEqual(site.stop(), 0)

    def test_reload_to_a_working_relay_delivers_what_waited(self):
        sink = SmtpSink(self).start()
        dead = "smtp://127.0.0.1:%d" % free_tcp_port()
        site = mail_site(self, sink, relays=[{"url": dead}], down_after_failures=1000)
        site.start()
        ids = [declare(site, "reload", "waits %d" % k) for k in range(2)]
        wait_until(lambda: site.ok("queue")["delivery"]["failed"] >= 1,
                   what="a failed attempt at the dead relay")
        self.assertEqual(sink.files(), [])
        site.mail["relays"] = [{"url": sink.url}]
        site.write_config()
        site.ok("reload")
        mails = sink.wait(2, timeout=20)
        self.assertEqual([incident_of(m) for m in mails], ids)
        self.assertEqual(queued(site), 0)
        self.assertEqual(site.stop(), 0)

    def test_failover_to_the_second_relay(self):
        sink = SmtpSink(self).start()
        dead = "smtp://127.0.0.1:%d" % free_tcp_port()
        site = mail_site(self, sink, relays=[{"url": dead, "connect_timeout": 1},
                                             {"url": sink.url}])
        site.start()
        id = declare(site, "failover", "second relay")
        (m,) = sink.wait(1)
        self.assertEqual(incident_of(m), id)
        q = site.ok("queue")["delivery"]
        self.assertEqual(q["last_relay"], sink.url)
        self.assertEqual(q["delivered"], 1)
        self.assertEqual(site.stop(), 0)

    def test_the_local_sendmail_program_as_a_relay(self):
        sink = SmtpSink(self).start()
        msmtp = ["/usr/bin/msmtp", "-C", "/dev/null", "--host=127.0.0.1",
                 "--port=%d" % sink.port, "--auth=off", "--tls=off"]
        dead = "smtp://127.0.0.1:%d" % free_tcp_port()
        site = mail_site(self, sink, relays=[{"url": dead, "connect_timeout": 1},
                                             {"sendmail": msmtp}])
        site.start()
        id = declare(site, "sendmail", "本文 via msmtp")
        (m,) = sink.wait(1)
        self.assertEqual(incident_of(m), id)
        self.assertEqual(m["X-MailFrom"], "sonae@city.example.jp")
        self.assertIn("本文 via msmtp", m["Subject"])
        self.assertEqual(site.ok("queue")["delivery"]["last_relay"],
                         "sendmail:/usr/bin/msmtp")
        self.assertEqual(site.stop(), 0)

    def test_starttls_and_auth_with_a_password_file(self):
        sink = SmtpSink(self, tls=True, user="sonae", password="s3cret 本").start()
        folder = sink.folder
        site = mail_site(self, sink, relays=[])
        secret = site.write("relay.secret", "s3cret 本\n", mode=0o600)
        site.mail["relays"] = [{"url": sink.url, "starttls": True,
                                "ca_file": os.path.join(folder, "cert.pem"),
                                "user": "sonae", "password": {"file": secret},
                                "auth": "PLAIN"}]
        site.start()
        declare(site, "tls", "over STARTTLS")
        (m,) = sink.wait(1)
        self.assertEqual(m["X-Auth"], "PLAIN sonae")
        self.assertNotIn("s3cret", site.log_text())
        self.assertEqual(site.stop(), 0)

    def test_a_secret_file_others_can_read_is_refused(self):
        sink = SmtpSink(self)
        site = mail_site(self, sink, relays=[])
        secret = site.write("relay.secret", "x\n", mode=0o644)
        site.mail["relays"] = [{"url": sink.url, "user": "u", "password": {"file": secret}}]
        site.write_config()
        r = site.sonae("validate", site.conf)
        self.assertEqual(r.rc, EXIT_FAILED)
        self.assertIn("relay.secret", r.out + r.err)


class RateLimit(unittest.TestCase):
    def test_held_back_notifications_come_as_one_digest(self):
        sink = SmtpSink(self).start()
        site = mail_site(self, sink, rate_limit=2, rate_period=3)
        site.start()
        ids = [declare(site, "r%d" % k, "storm %d" % k) for k in range(5)]
        sink.wait(2)
        time.sleep(1)
        self.assertEqual(len(sink.files()), 2, "two per period")
        mails = sink.wait(3, timeout=15)
        digest = mails[2]
        self.assertIn("DIGEST", digest["Subject"])
        for id in ids[2:]:
            self.assertIn("#%d" % id, body(digest))
        self.assertEqual(site.stop(), 0)


class Channels(unittest.TestCase):
    def test_exec_channel_gets_the_alert_in_its_environment(self):
        site = Site(self)
        out = site.path("exec.out")
        script = site.write("hook.py", "import json, os, sys\n"
                            "env = {k: v for k, v in os.environ.items() if k.startswith('SONAE_')}\n"
                            "env['stdin'] = sys.stdin.read()\n"
                            "env['argv'] = sys.argv[1:]\n"
                            "open(sys.argv[1], 'a').write(json.dumps(env) + '\\n')\n")
        site.channels = [{"name": "hook", "type": "exec",
                          "command": ["/usr/bin/python3", script, out, "a; touch x"]}]
        site.routes = [{"name": "local", "channels": ["hook"], "group_wait": 0}]
        site.start()
        id = declare(site, "earthquake", "震度5弱")
        line = wait_until(lambda: os.path.exists(out) and open(out).read(), what="the hook")
        env = json.loads(line.splitlines()[0])
        self.assertEqual(env["SONAE_EVENT"], "problem")
        self.assertEqual(env["SONAE_INCIDENT"], str(id))
        self.assertEqual(env["SONAE_SEVERITY"], "critical")
        self.assertEqual(env["SONAE_TITLE"], "earthquake: 震度5弱")
        self.assertIn("#%d" % id, env["SONAE_SUBJECT"])
        self.assertIn("sonae ack %d" % id, env["stdin"])
        self.assertEqual(env["argv"], [out, "a; touch x"], "argv, never a shell")
        self.assertFalse(os.path.exists(site.path("x")))
        site.ok("resolve", str(id), "-m", "over")
        wait_until(lambda: len(open(out).read().splitlines()) == 2, what="the recovery")
        self.assertEqual(json.loads(open(out).read().splitlines()[1])["SONAE_EVENT"],
                         "recovery")
        self.assertIn("alert.channel", [e["action"] for e in site.journal()])
        self.assertEqual(site.stop(), 0)

    def test_beacon_on_while_critical_off_after(self):
        mb = ModbusServer(self).start()
        site = Site(self)
        modbus_device(site, "io1", {"address": mb.address, "unit": 1,
                                    "points": [{"name": "lamp", "table": "coil", "type": "bit",
                                                "address": 0, "writable": True}]},
                      kind="sensor")
        site.channels = [{"name": "lamp", "type": "beacon", "device": "io1",
                          "point": "lamp", "value": "1", "clear": "0"}]
        site.routes = [{"name": "crit", "severity": ["critical"], "channels": ["lamp"],
                        "group_wait": 0}]
        site.start()
        wait_until(lambda: site.dev("io1")["contact"] == "ok", what="io1 polled")
        a = declare(site, "fire", "one")
        wait_until(lambda: mb.get("coil", 0) == [1], what="the lamp on")
        b = declare(site, "smoke", "two")
        site.ok("resolve", str(a), "-m", "a over")
        time.sleep(1.5)
        self.assertEqual(mb.get("coil", 0), [1], "still held by the other incident")
        site.ok("resolve", str(b), "-m", "b over")
        wait_until(lambda: mb.get("coil", 0) == [0], what="the lamp off")
        self.assertEqual(site.stop(), 0)

    def test_snmp_beacon_set_and_cleared(self):
        sw = Snmpsim(self, "switch").start()
        site = Site(self)
        snmp_device(site, "wan1", {"address": sw.address, "community": "switch",
                                   "links": [{"name": "uplink", "match": "ifName",
                                              "value": "ge-0/0/1"}]}, kind="router")
        alias = "1.3.6.1.2.1.31.1.1.1.18.2"  # ifAlias of the LAN port (writable)
        site.channels = [{"name": "sign", "type": "beacon", "device": "wan1",
                          "oid": alias, "set_type": "s", "value": "ALARM fire",
                          "clear": "LAN core"}]
        site.routes = [{"name": "crit", "severity": ["critical"], "channels": ["sign"],
                        "group_wait": 0}]
        site.start()
        wait_until(lambda: site.dev("wan1")["contact"] == "ok", what="wan1 polled")
        id = declare(site, "fire", "smoke in the server room")
        wait_until(lambda: "ALARM" in (sw.get("switch", alias) or ""), what="the sign set")
        site.ok("resolve", str(id), "-m", "over")
        wait_until(lambda: "LAN core" in (sw.get("switch", alias) or ""), what="the sign cleared")
        ok = [e["detail"]["ok"] for e in site.journal() if e["action"] == "alert.channel"]
        self.assertEqual(ok, [True, True])
        self.assertEqual(site.stop(), 0)


class Cli(unittest.TestCase):
    def test_notify_test_and_queue(self):
        sink = SmtpSink(self)
        site = mail_site(self, sink)
        site.start()
        r = site.sonae("notify-test", "--to", "duty@city.example.jp")
        self.assertEqual(r.rc, EXIT_OK, r.err)
        self.assertIn("queued", r.out)
        q = site.ok("queue")
        self.assertEqual(q["spool"]["count"], 1)
        self.assertEqual(q["spool"]["messages"][0]["rcpt"], ["duty@city.example.jp"])
        wait_until(lambda: site.ok("queue")["spool"]["messages"][0]["attempts"] >= 1,
                   what="a failed attempt")
        self.assertIn("duty@city.example.jp", site.sonae("queue").out)
        sink.start()

        def tests(n):
            """The TEST mails at the sink, once n arrived.  On a slow machine
            the failed attempts before the sink started may have raised
            mail-undeliverable, whose own mails arrive too."""
            return wait_until(lambda: [m for m in sink.messages() if "TEST" in m["Subject"]]
                              if len(sink.files()) >= n else None, timeout=20,
                              what="%d TEST mails at the sink" % n)
        m = tests(1)[0]
        self.assertEqual(rcpts(m), ["duty@city.example.jp"])
        # Without --to: every route's people.
        site.ok("notify-test")
        wait_until(lambda: len(tests(1)) >= 2, timeout=20, what="the second TEST mail")
        self.assertEqual(rcpts(tests(1)[1]), [ICT])
        entries = [e for e in site.journal() if e["action"] == "notify.test"]
        self.assertEqual(len(entries), 2)
        self.assertEqual(entries[0]["detail"]["to"], ["duty@city.example.jp"])
        self.assertEqual(entries[1]["detail"]["to"], [ICT])
        self.assertEqual(entries[0]["actor"], entries[1]["actor"])
        # Bad input: a clear refusal.
        r = site.sonae("notify-test", "--to", "not an address")
        self.assertEqual(r.rc, EXIT_FAILED)
        self.assertIn("not a plain address", r.err)
        self.assertEqual(site.stop(), 0)

    def test_readers_see_the_queue_only_operators_send(self):
        if os.geteuid() != 0 or shutil.which("setpriv") is None:
            raise AssertionError("needs root and setpriv (to run sonae as nobody)")
        sink = SmtpSink(self)
        site = mail_site(self, sink)
        site.control["group"] = "nogroup"
        site.start()
        r = site.sonae("queue", user="nobody")
        self.assertEqual((r.rc, r.err), (0, ""), r)
        r = site.sonae("notify-test", user="nobody")
        self.assertEqual((r.rc, r.err), (1, "sonae: notify-test: only operators may do "
                                            "this (you are nobody(65534))\n"), r)
        self.assertEqual(queued(site), 0)
        self.assertEqual(site.stop(), 0)


if __name__ == "__main__":
    unittest.main()
