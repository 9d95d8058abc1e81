"""Playbooks end to end: the real sonaed and sonae, a UPS simulated by snmpsim,
the inlet sensor by pymodbus, mail to aiosmtpd, all on 127.0.0.1.

- EndToEnd: the UPS goes on battery, the rule power-outage opens its
  incident and the shipped playbooks/library/power-outage.conf starts (its
  notice mailed to the sink); a human step is confirmed through the CLI.
  The runtime falls under 5 min, battery-critical opens and the TEST
  variant of battery-critical (data/playbooks/) shuts tiers 1, 2, 3 down in
  order, each only once the tier before is confirmed down, then starts them
  again in reverse order once mains is back.
- Crash: kill -9 with a program under way (not idempotent: unknown, the run
  waits until `confirm --retry`), a question waiting (still waiting, same
  deadline) and a wait under way (idempotent: starts over).
- Drill: timing and human steps as a run, destructive steps recorded as
  "would run" with their arguments and not run, notices only to the drill
  address, marked 【訓練】[DRILL], the run marked a drill everywhere.
- Approval: approver_differs refuses the requester's own approval (journaled)
  and takes another operator's; a `who` naming a user lets that user answer.
- Timeout: a program that ignores SIGTERM and its child are both killed.
- Triggers: `sonae run` of a playbook already running for the incident is
  refused; after kill -9 the incident and its run go on, and no second run
  starts; an incident in a maintenance window starts nothing.
- Audit: run, drill, confirm and abort are journaled with their caller.

The notices (notify steps) need alerts_notice(): until the notice branch
lands a notify step fails, and so do EndToEnd and Drill, whose playbooks
begin with one.  The playbooks of data/playbooks/ name their programs as
@SCRIPTS@/...; install() writes them with the absolute path of
data/playbooks/bin.  Nothing here has an upper time bound that load could
break: waits poll a condition against generous deadlines.
"""
import datetime
import os
import shutil
import sys
import time
import unittest

from harness import (DATA, EXIT_FAILED, EXIT_OK, SONAE_SRC, ModbusServer, Site,
                     SmtpSink, Snmpsim, modbus_device, snmp_device, wait_for,
                     wait_until)

RFC = "1.3.6.1.2.1.33.1"
SOURCE = RFC + ".4.1.0"           # upsOutputSource: 3 mains, 5 battery
RUNTIME = RFC + ".2.3.0"          # upsEstimatedMinutesRemaining
ON_BATTERY, ON_MAINS = 5, 3
PBDATA = os.path.join(DATA, "playbooks")
SCRIPTS = os.path.join(PBDATA, "bin")
LIBRARY = os.path.join(SONAE_SRC, "playbooks", "library")
XY_MD02 = os.path.join(SONAE_SRC, "etc", "profiles", "modbus", "xy-md02.conf")
ROOT, NOBODY = "root(0)", "nobody(65534)"
ICT, DRILL = "ict@city.example.jp", "drill@city.example.jp"
LONG = 60  # seconds: a deadline for things that take a second or two
# Where a test only needs to see that a wait or a timeout really took its
# time (and was not skipped or cut short), it asks for this share of it: a
# step's recorded duration can fall short of the configured one (see Timing).
REALLY = 0.5


# --- a site with playbooks ----------------------------------------------------

def install(site, *names, library=()):
    """A playbook folder in the site: the shipped playbooks named in library
    as they are, and data/playbooks/NAME.conf with @SCRIPTS@ made absolute.
    Sets site.playbooks; returns it."""
    folder = site.path("playbooks")
    os.makedirs(folder, exist_ok=True)
    for n in library:
        shutil.copy(os.path.join(LIBRARY, n + ".conf"), folder)
    for n in names:
        with open(os.path.join(PBDATA, n + ".conf")) as f:
            text = f.read().replace("@SCRIPTS@", SCRIPTS)
        with open(os.path.join(folder, n + ".conf"), "w") as f:
            f.write(text)
    site.playbooks = {"dir": folder, "drill_to": [DRILL]}
    return site.playbooks


def param(site, playbook, name, value):
    # (Not an empty list from the start: libconfig reads [] as an array.)
    site.playbooks.setdefault("parameters", []).append(
        {"playbook": playbook, "name": name, "value": str(value)})


def mail_to(site, sink):
    site.mail = {"from": "sonae@city.example.jp", "from_name": "sonae 本庁舎",
                 "relays": [{"url": sink.url}], "retry": 0.5, "retry_max": 1}


def ups_device(site, ups):
    return snmp_device(site, "ups1", {"address": ups.address, "community": "ups-rfc1628",
                                      "profile": "ups-rfc1628"}, kind="ups")


def ups_set(ups, oid, value):
    ups.set("ups-rfc1628", oid, "i", value)


# The demo site's rules (etc/demo/sonae.conf), power-outage held 1 s, not 5.
POWER_OUTAGE = {"name": "power-outage", "when": "ups1.on_battery", "for": "1s",
                "severity": "critical", "playbook": "power-outage",
                "description": "Mains power failed: ups1 on battery"}
BATTERY_CRITICAL = {"name": "battery-critical",
                    "when": "ups1.battery_low || ups1.runtime_s < 5min",
                    "severity": "critical", "playbook": "battery-critical",
                    "description": "UPS battery low: shut down in order"}


# --- runs, steps, the journal ---------------------------------------------------

def ms(t):
    """Epoch ms of a time as sonaed writes it (ISO 8601 with its offset)."""
    return round(datetime.datetime.fromisoformat(t).timestamp() * 1000)


def status(site, run):
    return site.ok("run-status", str(run))


def step(rs, id):
    for s in rs["steps"]:
        if s["id"] == id:
            return s
    raise AssertionError("run %s has no step %s" % (rs["id"], id))


def wait_step(site, run, id, *states, timeout=LONG):
    """run-status once step id is in one of states; fails at once if the run
    is over while it waits."""
    def get():
        rs = status(site, run)
        if step(rs, id)["state"] not in states and rs["state"] != "running":
            raise AssertionError("run %s is %s while step %s should become %s:\n%s" %
                                 (run, rs["state"], id, "/".join(states),
                                  summary(rs)))
        return rs
    return wait_for(get, lambda rs: step(rs, id)["state"] in states, timeout=timeout,
                    what="step %s of run %s %s" % (id, run, "/".join(states)))


def wait_run(site, run, *states, timeout=LONG):
    return wait_for(lambda: status(site, run), lambda rs: rs["state"] in states,
                    timeout=timeout, what="run %s %s" % (run, "/".join(states)))


def summary(rs):
    """A run-status for a failure message: one line a step."""
    return "\n".join("  %-10s %-8s %s" % (s["id"], s["state"], s["result"])
                     for s in rs["steps"])


def runs(site, all=True):
    return site.ok("runs", *(["--all"] if all else []))["runs"]


def run_for(site, playbook, incident, timeout=LONG):
    """The id of the run of playbook for incident, once it started."""
    def find():
        ids = [r["id"] for r in runs(site)
               if r["playbook"] == playbook and r["incident"] == incident]
        return ids[0] if ids else None
    return wait_until(find, timeout, what="a run of %s for incident %s" %
                      (playbook, incident))


def start(site, *args, user=None):
    """`sonae --json run|drill ...`: the run's id."""
    r = site.sonae("--json", *args, user=user)
    if r.rc != EXIT_OK:
        raise AssertionError("sonae %s: exit %d: %s" % (" ".join(args), r.rc, r.err))
    return r.json["run"]


def confirm(site, run, id, text, *flags, user=None):
    return site.sonae("confirm", str(run), id, *flags, "-m", text, user=user)


def confirmed(test, site, run, id, text, *flags, user=None):
    r = confirm(site, run, id, text, *flags, user=user)
    test.assertEqual(r.rc, EXIT_OK, r)
    return r


def audit(site):
    """`sonae --json audit`: every entry, oldest first."""
    return site.ok("audit")["entries"]


def audited(site, action, **detail):
    """The journal entries of action whose detail has these values."""
    return [e for e in audit(site) if e["action"] == action and
            all(e["detail"].get(k) == v for k, v in detail.items())]


def incident_open(site, rule, timeout=LONG):
    return wait_for(lambda: site.incident(rule), lambda i: i is not None,
                    timeout=timeout, what="an open %s incident" % rule)


def read_log(path):
    """The scripts' log as lists of words ([] when nothing ran)."""
    try:
        with open(path) as f:
            return [line.split() for line in f.read().splitlines()]
    except FileNotFoundError:
        return []


def shell_words(*argv):
    """argv as sonaed shows a command (pb_argv_text(): a word with none of
    the shell's special characters as it is, any other in single quotes)."""
    special = set(" \t\n'\"\\$`;&|<>()*?[]{}~#")
    return " ".join(w if w and not special & set(w) else
                    "'" + w.replace("'", "'\\''") + "'" for w in map(str, argv))


def gone(pid):
    """The process no longer runs: no /proc entry, or a zombie (killed; its
    new parent, PID 1 here, may not reap it)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


class Timings:
    """Named moments of a test, printed (to stderr) as offsets from the first."""

    def __init__(self, test):
        self.test = test
        self.marks = []

    def mark(self, what, at_ms=None):
        self.marks.append((what, at_ms if at_ms is not None else time.time() * 1000))

    def show(self):
        t0 = self.marks[0][1]
        lines = ["%s timings (s from %s):" % (self.test.id().split(".", 1)[1],
                                               self.marks[0][0])]
        lines += ["  %+8.3f  %s" % ((t - t0) / 1000, w)
                  for w, t in sorted(self.marks, key=lambda m: m[1])]
        sys.stderr.write("\n" + "\n".join(lines) + "\n")


# --- 1. end to end ------------------------------------------------------------

class EndToEnd(unittest.TestCase):
    def test_power_outage_then_battery_critical_shuts_tiers_down_in_order(self):
        tm = Timings(self)
        ups = Snmpsim(self, "ups-rfc1628").start()
        env = ModbusServer(self).start()
        env.set("input", 1, 235)  # 23.5 degC: power-outage's "heat" does not apply
        sink = SmtpSink(self).start()
        site = Site(self, name="本庁舎")
        install(site, "battery-critical", library=["power-outage"])
        log, hosts = site.path("scripts.log"), site.path("hosts")
        os.mkdir(hosts)
        for name, value in (("contact", ICT), ("facilities_contact", "庁舎管理 (内線 1234)"),
                            ("vendor_contact", "UPS保守 (03-0000-0000)")):
            param(site, "power-outage", name, value)
        for name, value in (("contact", ICT), ("tier1_host", "tier1-a"),
                            ("tier1b_host", "tier1-b"), ("tier2_host", "tier2-a"),
                            ("tier3_host", "tier3-a"), ("log", log), ("hosts", hosts)):
            param(site, "battery-critical", name, value)
        ups_device(site, ups)
        modbus_device(site, "env1", {"address": env.address, "unit": 1,
                                     "profile": XY_MD02}, kind="sensor")
        mail_to(site, sink)
        site.rules = [POWER_OUTAGE, BATTERY_CRITICAL]
        site.start()
        wait_until(lambda: all(site.detectors()[r]["state"] == "ok"
                               for r in ("power-outage", "battery-critical")),
                   timeout=LONG, what="both rules evaluated")
        wait_until(lambda: abs((site.metrics("env1").get("temperature", {}).get("value")
                                or 0) - 23.5) < 0.01,
                   timeout=LONG, what="env1 read")

        # Mains fails.
        tm.mark("ups1 on battery")
        ups_set(ups, SOURCE, ON_BATTERY)
        outage = incident_open(site, "power-outage")
        tm.mark("power-outage incident opened", ms(outage["opened"]))
        p1 = run_for(site, "power-outage", outage["id"])
        rs = wait_step(site, p1, "facilities", "waiting")
        tm.mark("power-outage run started", ms(rs["started"]))
        self.assertEqual(rs["requested_by"], "sonaed")
        self.assertIs(rs["drill"], False)
        notify = step(rs, "notify")
        self.assertEqual(notify["state"], "done", summary(rs))
        self.assertIn(ICT, notify["result"])
        tm.mark("power-outage notify done", ms(notify["ended"]))
        self.assertEqual([w["id"] for w in rs["waiting"]], ["facilities"])
        self.assertIn("庁舎管理 (内線 1234)", rs["waiting"][0]["question"])
        self.assertEqual(rs["waiting"][0]["default"], "no")
        self.assertIsNotNone(rs["waiting"][0]["deadline"])

        # A human says facilities were called, through the CLI.
        r = confirmed(self, site, p1, "facilities", "庁舎管理: 全館停電、復旧見込み30分")
        self.assertEqual(r.out, "run %d step facilities: yes\n" % p1)
        rs = wait_step(site, p1, "room", "waiting")
        fac = step(rs, "facilities")
        self.assertEqual((fac["state"], fac["actor"]), ("done", ROOT), fac)
        self.assertIn("全館停電、復旧見込み30分", fac["result"])
        tm.mark("facilities confirmed by root", ms(fac["ended"]))
        line = [l for l in site.sonae("run-status", str(p1)).out.splitlines()
                if "庁舎管理へ連絡" in l]
        self.assertTrue(line and "[x]" in line[0], line)
        # The server room too; the heat notice does not apply (23.5 degC).
        confirmed(self, site, p1, "room", "空調停止、他は異常なし")
        rs = wait_step(site, p1, "mains", "running")
        self.assertEqual(step(rs, "heat")["state"], "skipped", summary(rs))

        # The battery runs low: 3 minutes left.
        tm.mark("ups1 runtime 3 min")
        ups_set(ups, RUNTIME, 3)
        critical = incident_open(site, "battery-critical")
        tm.mark("battery-critical incident opened", ms(critical["opened"]))
        p2 = run_for(site, "battery-critical", critical["id"])
        rs = wait_step(site, p2, "approve", "waiting")
        tm.mark("battery-critical run started", ms(rs["started"]))
        self.assertEqual(step(rs, "notify")["state"], "done", summary(rs))
        self.assertEqual(read_log(log), [], "nothing shut down before the approval")
        confirmed(self, site, p2, "approve", "承認: 発電機なし")
        rs = wait_step(site, p2, "charged", "running")
        tm.mark("approve confirmed by root", ms(step(rs, "approve")["ended"]))
        tiers = [step(rs, "tier%d" % k) for k in (1, 2, 3)]
        for t in tiers:
            self.assertEqual(t["state"], "done", summary(rs))
            self.assertEqual(t["attempts"], 1)
        self.assertEqual(step(rs, "approve")["actor"], ROOT)

        # The order, from the scripts' log and from run-status.
        lines = read_log(log)
        started = {}   # host -> ns its shutdown command started
        down = {}      # host -> ns its check first found it down
        for tier, host, what, ns in lines:
            if what == "start":
                self.assertNotIn(host, started, "%s shut down twice" % host)
                started[host] = int(ns)
            elif what == "down":
                down.setdefault(host, int(ns))
        members = {"tier1": ["tier1-a", "tier1-b"], "tier2": ["tier2-a"],
                   "tier3": ["tier3-a"]}
        self.assertEqual(sorted(started), sorted(sum(members.values(), [])))
        self.assertEqual(sorted(down), sorted(started), "every host confirmed down")
        order = [l[0] for l in lines if l[2] == "start"]
        self.assertEqual(order, sorted(order), "tiers shut down in order: %r" % lines)
        for k, t in enumerate(tiers):
            tier = "tier%d" % (k + 1)
            tm.mark("%s step started" % tier, ms(t["started"]))
            for h in members[tier]:
                tm.mark("  %s shutdown command" % h, started[h] / 1e6)
                tm.mark("  %s confirmed down" % h, down[h] / 1e6)
            tm.mark("%s step ended" % tier, ms(t["ended"]))
            # The step's own times bracket its hosts'.
            self.assertLessEqual(ms(t["started"]),
                                 min(started[h] for h in members[tier]) // 10**6)
            self.assertGreaterEqual(ms(t["ended"]),
                                    max(down[h] for h in members[tier]) // 10**6)
            self.assertIn("%d of %d" % (len(members[tier]), len(members[tier])),
                          t["result"])
            if k > 0:
                prev = "tier%d" % k
                self.assertGreater(min(started[h] for h in members[tier]),
                                   max(down[h] for h in members[prev]),
                                   "%s started before %s was down" % (tier, prev))
                self.assertGreaterEqual(ms(t["started"]), ms(tiers[k - 1]["ended"]))
        self.assertEqual(step(rs, "stopped")["state"], "done", summary(rs))

        # Mains is back and the battery charged: the tiers start, 3, 2, 1.
        tm.mark("mains back")
        ups_set(ups, RUNTIME, 42)
        ups_set(ups, SOURCE, ON_MAINS)
        rs = wait_step(site, p2, "inspect", "waiting")
        self.assertGreaterEqual(step(rs, "charged")["duration_ms"], 2000 * REALLY)
        tm.mark("charged: held 2 s", ms(step(rs, "charged")["ended"]))
        confirmed(self, site, p2, "inspect", "空調稼働、電源安定")
        wait_step(site, p2, "services", "waiting")
        confirmed(self, site, p2, "services", "優先業務から確認済み")
        wait_step(site, p2, "exit", "waiting")
        confirmed(self, site, p2, "exit", "全ホスト復旧")
        rs = wait_run(site, p2, "done", "failed", "aborted")
        self.assertEqual(rs["state"], "done", summary(rs))
        tm.mark("battery-critical run done", ms(rs["ended"]))
        ons = [l for l in read_log(log) if l[0] == "power-on"]
        self.assertEqual([l[1] for l in ons], ["tier3", "tier2", "tier1"])
        for a, b in zip(ons, ons[1:]):
            self.assertGreaterEqual(int(b[-1]) - int(a[-1]), 1000 * REALLY * 10**6,
                                 "a tier settles 1 s before the next starts")
        self.assertEqual(ons[2][2:4], ["tier1-a", "tier1-b"])

        # The power-outage run waits for mains stable 5 min: closed by hand.
        r = site.sonae("abort", str(p1), "-m", "復電、計画停止から復旧済み")
        self.assertEqual((r.rc, r.out), (EXIT_OK, "run %d aborted\n" % p1), r)
        rs = status(site, p1)
        self.assertEqual(rs["state"], "aborted")
        self.assertIn(step(rs, "mains")["state"], ("failed",))

        # The notices, at the sink.
        want = [("停電を通知", outage), ("計画停止を通知", critical),
                ("停止完了を通知", critical)]
        mails = wait_until(lambda: [m for m in sink.messages()
                                    if any(w in m["Subject"] for w, _ in want)]
                           if len(sink.messages()) >= 3 else None,
                           timeout=LONG, what="the three notices at the sink")
        for title, inc in want:
            got = [m for m in mails if title in m["Subject"]]
            self.assertEqual(len(got), 1, [m["Subject"] for m in mails])
            self.assertEqual(got[0]["X-RcptTo"].strip(), ICT)
            self.assertIn("#%d" % inc["id"], got[0]["Subject"])
            self.assertFalse(got[0]["Subject"].startswith("【訓練】"))

        # Every action, with its caller.
        for action, run, actor in (("playbook.start", p1, "sonaed"),
                                   ("playbook.start", p2, "sonaed"),
                                   ("playbook.abort", p1, ROOT),
                                   ("playbook.end", p2, "sonaed")):
            self.assertEqual([e["actor"] for e in audited(site, action, run=run)],
                             [actor], (action, run))
        for run, id in ((p1, "facilities"), (p1, "room"), (p2, "approve"),
                        (p2, "inspect"), (p2, "services"), (p2, "exit")):
            e = audited(site, "playbook.confirm", run=run, step=id)
            self.assertEqual([(x["actor"], x["detail"]["answer"]) for x in e],
                             [(ROOT, "yes")], (run, id))
        tm.show()
        self.assertEqual(site.stop(), 0)


# --- 2. kill -9 in the middle of runs ------------------------------------------

class Crash(unittest.TestCase):
    def test_kill9_unknown_exec_waiting_confirm_and_wait_starting_over(self):
        tm = Timings(self)
        site = Site(self)
        install(site, "crash-exec", "crash-confirm", "crash-wait")
        log, hold = site.path("scripts.log"), site.path("hold")
        param(site, "crash-exec", "log", log)
        param(site, "crash-exec", "hold", hold)
        param(site, "crash-confirm", "log", log)
        param(site, "crash-wait", "log", log)
        open(hold, "w").close()
        # The first "work" outlives the daemon: ended by removing hold.
        self.addCleanup(lambda: os.path.exists(hold) and os.remove(hold))
        site.start()

        asked = start(site, "run", "crash-confirm", "-m", "a question across a crash")
        rs = wait_step(site, asked, "ask", "waiting")
        deadline = rs["waiting"][0]["deadline"]
        since = rs["waiting"][0]["since"]
        self.assertEqual(ms(deadline) - ms(since), 10 * 60 * 1000)
        worker = start(site, "run", "crash-exec", "-m", "a program across a crash")
        wait_until(lambda: [l for l in read_log(log) if l[:2] == ["work", "start"]],
                   timeout=LONG, what="work to start")
        waiter = start(site, "run", "crash-wait", "-m", "a wait across a crash")
        rs = wait_step(site, waiter, "settle", "running")
        self.assertEqual(step(rs, "settle")["attempts"], 1)
        self.assertEqual(step(status(site, worker), "work")["state"], "running")

        tm.mark("kill -9")
        killed = time.time() * 1000
        site.kill9()
        site.start()
        tm.mark("sonaed answers again")

        # The program (not idempotent): unknown; the run waits for an operator.
        rs = status(site, worker)
        work = step(rs, "work")
        self.assertEqual((rs["state"], work["state"]), ("running", "unknown"), summary(rs))
        self.assertEqual([(w["id"], w["unknown"]) for w in rs["waiting"]],
                         [("work", True)])
        text = site.sonae("run-status", str(worker)).out
        self.assertTrue([l for l in text.splitlines()
                         if "[#]" in l and "Do something that must not happen twice" in l],
                        text)
        self.assertIn("sonae confirm %d work -m TEXT" % worker, text)
        self.assertIn("--retry", text)
        # The question: still waiting, its deadline unchanged.
        rs = status(site, asked)
        self.assertEqual(step(rs, "ask")["state"], "waiting", summary(rs))
        self.assertEqual(rs["waiting"][0]["deadline"], deadline)
        self.assertEqual(rs["waiting"][0]["since"], since)
        self.assertEqual(step(rs, "ask")["deadline"], deadline)
        # The wait (idempotent): starts over, a whole 4 s from the restart.
        rs = wait_run(site, waiter, "done", "failed", "aborted")
        settle = step(rs, "settle")
        self.assertEqual((rs["state"], settle["state"], settle["attempts"]),
                         ("done", "done", 2), summary(rs))
        self.assertGreaterEqual(ms(settle["started"]), killed)
        self.assertGreaterEqual(settle["duration_ms"], 4000 * REALLY)
        tm.mark("settle started over", ms(settle["started"]))
        tm.mark("settle done", ms(settle["ended"]))
        self.assertIn("step-restart", [l["event"] for l in rs["log"]])
        # Meanwhile nothing ran "work" again by itself.
        self.assertEqual(len([l for l in read_log(log) if l[:2] == ["work", "start"]]), 1)
        self.assertEqual(step(status(site, worker), "work")["state"], "unknown")

        # The first program outlived sonaed (its own process group): the
        # checkpoint kept it, run-status says so, and --retry waits for it.
        self.assertIn("still runs as process group", step(status(site, worker), "work")["result"])
        r = site.sonae("confirm", str(worker), "work", "--retry", "-m", "too early")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("still runs as process group", r.err)
        os.remove(hold)  # the first program ends
        # --retry: it runs again (once), then the run goes on.
        r = wait_for(lambda: site.sonae("confirm", str(worker), "work", "--retry", "-m",
                                        "did not finish: run it again"),
                     lambda r: r.rc == EXIT_OK, timeout=LONG,
                     what="--retry accepted once the first program ended")
        self.assertEqual(r.out, "run %d step work: run it again\n" % worker)
        starts = wait_until(lambda: [l for l in read_log(log)
                                     if l[:2] == ["work", "start"]][1:],
                            timeout=LONG, what="work to start again")
        tm.mark("work started again", int(starts[0][3]) / 1e6)
        rs = wait_run(site, worker, "done", "failed", "aborted")
        self.assertEqual(rs["state"], "done", summary(rs))
        work = step(rs, "work")
        self.assertEqual((work["state"], work["attempts"]), ("done", 2))
        lines = read_log(log)
        self.assertEqual(len([l for l in lines if l[:2] == ["work", "start"]]), 2,
                         "once before the crash, once on --retry: %r" % lines)
        self.assertEqual([l[:2] for l in lines if l[0] == "after"],
                         [["after", "wait"], ["after", "exec"]])
        self.assertEqual(audited(site, "playbook.confirm", run=worker, step="work",
                                 answer="retry")[0]["actor"], ROOT)
        self.assertEqual(len(audited(site, "playbook.resume")), 3)

        # The question is still there; the run is aborted by hand.
        self.assertEqual(status(site, asked)["waiting"][0]["deadline"], deadline)
        r = site.sonae("abort", str(asked), "-m", "no longer needed")
        self.assertEqual((r.rc, r.out), (EXIT_OK, "run %d aborted\n" % asked), r)
        rs = status(site, asked)
        self.assertEqual((rs["state"], step(rs, "ask")["state"]), ("aborted", "failed"))
        self.assertNotIn(["after", "confirm"], [l[:2] for l in read_log(log)])
        self.assertEqual(audited(site, "playbook.abort", run=asked)[0]["actor"], ROOT)
        tm.show()
        self.assertEqual(site.stop(), 0)


# --- 3. drills ------------------------------------------------------------------

class Drill(unittest.TestCase):
    def test_drill_runs_nothing_destructive_and_mails_only_the_drill_address(self):
        tm = Timings(self)
        ups = Snmpsim(self, "ups-rfc1628").start()  # on mains, charged
        sink = SmtpSink(self).start()
        site = Site(self, name="本庁舎")
        install(site, "battery-critical")
        log, hosts = site.path("scripts.log"), site.path("hosts")
        os.mkdir(hosts)
        for name, value in (("contact", ICT), ("tier1_host", "tier1-a"),
                            ("tier1b_host", "tier1-b"), ("tier2_host", "tier2-a"),
                            ("tier3_host", "tier3-a"), ("log", log), ("hosts", hosts)):
            param(site, "battery-critical", name, value)
        ups_device(site, ups)
        mail_to(site, sink)
        # A route that would tell ICT of anything: a drill must not use it.
        site.routes = [{"name": "all", "to": [ICT], "group_wait": 0, "repeat": 0}]
        site.start()
        wait_until(lambda: site.metrics("ups1").get("charge_pct", {}).get("value") == 100,
                   timeout=LONG, what="ups1 read")

        tm.mark("sonae drill")
        r = site.sonae("drill", "battery-critical", "-m", "年次訓練")
        self.assertEqual(r.rc, EXIT_OK, r)
        run = int(r.out.split()[2])
        self.assertEqual(r.out, "drill run %d of battery-critical started: nothing "
                                "destructive runs; sonae run-status %d\n" % (run, run))
        rs = wait_step(site, run, "approve", "waiting")
        self.assertIs(rs["drill"], True)
        self.assertIsNone(rs["incident"])
        self.assertEqual(step(rs, "notify")["state"], "done", summary(rs))
        confirmed(self, site, run, "approve", "訓練: 承認")
        rs = wait_step(site, run, "inspect", "waiting")
        tm.mark("approve confirmed", ms(step(rs, "approve")["ended"]))
        tm.mark("tiers 1-3 recorded (would run)", ms(step(rs, "tier3")["ended"]))
        tm.mark("charged held 2 s", ms(step(rs, "charged")["ended"]))

        def would(tier, *hosts_):
            return "would run: " + "; ".join(
                "%s: %s" % (h, shell_words(os.path.join(SCRIPTS, "pb-host-shutdown"),
                                           log, tier, h, hosts))
                for h in hosts_)
        for id, want in (("tier1", would("tier1", "tier1-a", "tier1-b")),
                         ("tier2", would("tier2", "tier2-a")),
                         ("tier3", would("tier3", "tier3-a"))):
            s = step(rs, id)
            self.assertEqual((s["state"], s["destructive"], s["would_run"]),
                             ("done", True, True), s)
            self.assertEqual(s["result"], want)
        # The wait for mains and charge really waited its 2 s.
        self.assertEqual(step(rs, "charged")["state"], "done")
        self.assertGreaterEqual(step(rs, "charged")["duration_ms"], 2000 * REALLY)
        confirmed(self, site, run, "inspect", "訓練: 点検済み")
        wait_step(site, run, "services", "waiting")
        confirmed(self, site, run, "services", "訓練: 確認済み")
        wait_step(site, run, "exit", "waiting")
        confirmed(self, site, run, "exit", "訓練終了")
        rs = wait_run(site, run, "done", "failed", "aborted")
        self.assertEqual(rs["state"], "done", summary(rs))
        tm.mark("drill done", ms(rs["ended"]))
        for k in (3, 2, 1):
            s = step(rs, "start%d" % k)
            self.assertEqual((s["state"], s["would_run"]), ("done", True), s)
            self.assertTrue(s["result"].startswith("would run: " + shell_words(
                os.path.join(SCRIPTS, "pb-log"), log, "power-on", "tier%d" % k)), s)
        for k in (3, 2):
            self.assertGreaterEqual(step(rs, "settle%d" % k)["duration_ms"], 1000 * REALLY)
        # Nothing ran: no log, no host went down.
        self.assertEqual(read_log(log), [])
        self.assertEqual(os.listdir(hosts), [])

        # A drill everywhere.
        self.assertIn("DRILL", site.sonae("run-status", str(run)).out)
        (listed,) = [x for x in runs(site) if x["id"] == run]
        self.assertIs(listed["drill"], True)
        (pb,) = [p for p in site.ok("playbooks")["playbooks"]
                 if p["name"] == "battery-critical"]
        self.assertEqual(pb["last_drill"]["id"], run)
        self.assertIs(pb["last_drill"]["drill"], True)
        self.assertIsNone(pb["last_run"])
        (e,) = audited(site, "playbook.start", run=run)
        self.assertEqual((e["actor"], e["detail"]["drill"]), (ROOT, True))
        for id in ("tier1", "tier2", "tier3", "start3"):
            (e,) = audited(site, "playbook.step", run=run, step=id)
            self.assertEqual((e["detail"]["drill"], e["detail"]["would_run"]),
                             (True, True), e)
        (e,) = audited(site, "playbook.end", run=run)
        self.assertEqual((e["detail"]["drill"], e["detail"]["state"]), (True, "done"))

        # The two notices, to the drill address only, marked.
        wait_until(lambda: site.ok("queue")["spool"]["count"] == 0 and
                   len(sink.files()) >= 2, timeout=LONG, what="the notices delivered")
        mails = sink.messages()
        self.assertEqual(len(mails), 2, [m["Subject"] for m in mails])
        for m in mails:
            self.assertEqual(m["X-RcptTo"].strip(), DRILL)
            self.assertTrue(m["Subject"].startswith("【訓練】[DRILL]"), m["Subject"])
        self.assertIn("計画停止を通知", mails[0]["Subject"])
        self.assertIn("停止完了を通知", mails[1]["Subject"])
        tm.show()
        self.assertEqual(site.stop(), 0)


# --- 4. approver_differs -----------------------------------------------------------

class Approval(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0 or shutil.which("setpriv") is None:
            # A failure, not a skip: ctest would count a skip as passed.
            raise AssertionError("needs root and setpriv (to run sonae as nobody)")

    def test_the_requester_cannot_approve_another_operator_can(self):
        site = Site(self)
        site.control.update({"group": "nogroup", "operators_group": "nogroup"})
        install(site, "cyber-approval")
        log = site.path("scripts.log")
        param(site, "cyber-approval", "log", log)
        site.start()

        # Declared by root: root may not approve, nobody (an operator) may.
        r = site.sonae("declare", "cyber", "-m", "不審な通信 (suspicious traffic)")
        self.assertEqual(r.rc, EXIT_OK, r)
        inc = site.incident("declared:cyber")
        run = run_for(site, "cyber-approval", inc["id"])
        rs = wait_step(site, run, "approve", "waiting")
        self.assertEqual(rs["requested_by"], ROOT)
        r = confirm(site, run, "approve", "self-approval")
        self.assertEqual((r.rc, r.out), (EXIT_FAILED, ""), r)
        self.assertIn("approver_differs", r.err)
        self.assertIn(ROOT, r.err)
        rs = status(site, run)
        self.assertEqual(step(rs, "approve")["state"], "waiting")
        self.assertEqual(read_log(log), [])
        (e,) = audited(site, "playbook.confirm-refused", run=run)
        self.assertEqual((e["actor"], e["detail"]["step"]), (ROOT, "approve"))
        self.assertIn("approver_differs", e["detail"]["why"])
        self.assertEqual(audited(site, "playbook.confirm", run=run), [])
        r = confirm(site, run, "approve", "second pair of eyes", user="nobody")
        self.assertEqual((r.rc, r.out), (EXIT_OK, "run %d step approve: yes\n" % run), r)
        rs = wait_run(site, run, "done", "failed", "aborted")
        self.assertEqual(rs["state"], "done", summary(rs))
        self.assertEqual(step(rs, "approve")["actor"], NOBODY)
        self.assertEqual([l[:2] for l in read_log(log)], [["isolate", str(inc["id"])]])
        (e,) = audited(site, "playbook.confirm", run=run)
        self.assertEqual((e["actor"], e["detail"]["answer"]), (NOBODY, "yes"))

        # Started by nobody with `sonae run`: nobody may not, root may.
        run2 = start(site, "run", "cyber-approval", "-m", "by hand", user="nobody")
        rs = wait_step(site, run2, "approve", "waiting")
        self.assertEqual(rs["requested_by"], NOBODY)
        r = confirm(site, run2, "approve", "self-approval", user="nobody")
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("approver_differs", r.err)
        (e,) = audited(site, "playbook.confirm-refused", run=run2)
        self.assertEqual(e["actor"], NOBODY)
        confirmed(self, site, run2, "approve", "approved by root")
        rs = wait_run(site, run2, "done", "failed", "aborted")
        self.assertEqual((rs["state"], step(rs, "approve")["actor"]), ("done", ROOT))
        self.assertEqual(len(read_log(log)), 2)
        self.assertEqual(site.stop(), 0)

    def test_who_names_the_user_who_answers(self):
        """`who = ["nobody"]`: the user nobody answers, though not an
        operator; root, an operator not named, may not."""
        site = Site(self)
        site.control["group"] = "nogroup"  # nobody may connect, not an operator
        install(site, "named-approver")
        site.start()
        run = start(site, "run", "named-approver", "-m", "who answers")
        rs = wait_step(site, run, "ask", "waiting")
        self.assertEqual(rs["waiting"][0]["who"], ["nobody"])
        r = confirm(site, run, "ask", "not named")
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("may not answer", r.err)
        r = confirm(site, run, "ask", "named", user="nobody")
        self.assertEqual((r.rc, r.out), (EXIT_OK, "run %d step ask: yes\n" % run), r)
        rs = wait_run(site, run, "done", "failed", "aborted")
        self.assertEqual((rs["state"], step(rs, "ask")["actor"]), ("done", NOBODY))
        self.assertEqual(site.stop(), 0)


# --- 5. a step's timeout ---------------------------------------------------------

class Timeout(unittest.TestCase):
    def test_timeout_kills_a_group_that_ignores_sigterm(self):
        tm = Timings(self)
        site = Site(self)
        install(site, "stubborn")
        pids = site.path("pids")
        param(site, "stubborn", "pids", pids)
        site.start()
        run = start(site, "run", "stubborn", "-m", "a program that will not stop")
        wait_until(lambda: os.path.exists(pids), timeout=LONG, what="the pids written")
        with open(pids) as f:
            parent, child = (int(x) for x in f.read().split())
        rs = wait_run(site, run, "done", "failed", "aborted")
        hang = step(rs, "hang")
        tm.mark("hang started", ms(hang["started"]))
        tm.mark("hang failed: %s" % hang["result"], ms(hang["ended"]))
        self.assertEqual((rs["state"], hang["state"]), ("failed", "failed"), summary(rs))
        self.assertTrue(hang["result"].startswith("timed out after"), hang)
        # SIGTERM (at 1 s) was ignored: it took the SIGKILL, 2 s later.
        self.assertGreaterEqual(hang["duration_ms"], 3000 * REALLY + 500)
        wait_until(lambda: gone(parent) and gone(child), timeout=LONG,
                   what="pids %d and %d gone" % (parent, child))
        tm.show()
        self.assertEqual(site.stop(), 0)


# --- 6. triggers ---------------------------------------------------------------

class Triggers(unittest.TestCase):
    def test_one_run_per_incident_and_none_in_a_maintenance_window(self):
        ups = Snmpsim(self, "ups-rfc1628").start()
        site = Site(self)
        install(site, "hold-on")
        ups_device(site, ups)
        site.rules = [{"name": "power-outage", "when": "ups1.on_battery",
                       "severity": "critical", "playbook": "hold-on"}]
        site.start()
        wait_until(lambda: site.detectors()["power-outage"]["state"] == "ok",
                   timeout=LONG, what="the rule evaluated")
        ups_set(ups, SOURCE, ON_BATTERY)
        inc = incident_open(site, "power-outage")
        run = run_for(site, "hold-on", inc["id"])
        wait_step(site, run, "hold", "waiting")

        # `sonae run` of the playbook already running for the incident: refused.
        r = site.sonae("run", "hold-on", "--incident", str(inc["id"]), "-m", "again")
        self.assertEqual((r.rc, r.out), (EXIT_FAILED, ""), r)
        self.assertIn("already runs for incident %d as run %d" % (inc["id"], run), r.err)
        self.assertEqual(len(runs(site)), 1)
        # ... and recorded: the re-trigger is in the journal and the run's log.
        (e,) = audited(site, "playbook.retrigger", run=run)
        self.assertEqual((e["actor"], e["detail"]["incident"], e["detail"]["playbook"]),
                         (ROOT, inc["id"], "hold-on"))
        self.assertIn("retrigger", [l["event"] for l in status(site, run)["log"]])

        # The incident survives kill -9 (detect.c saves it at once) and so
        # does the run: after the restart the rule still holds, and the run
        # goes on; nothing asks for the playbook a second time, nothing
        # starts it again (only an incident's opening or declaration asks,
        # once, for a new id; check_pbengine covers a second request).
        site.kill9()
        site.start()
        wait_until(lambda: site.detectors()["power-outage"]["since"] != "-",
                   timeout=LONG, what="the rule evaluated again")
        self.assertEqual([i["id"] for i in site.incidents()], [inc["id"]])
        (e,) = audited(site, "playbook.resume", run=run)
        self.assertEqual(e["actor"], "sonaed")
        self.assertEqual(step(status(site, run), "hold")["state"], "waiting")
        self.assertEqual([(x["id"], x["state"]) for x in runs(site)], [(run, "running")])
        self.assertEqual(len(audited(site, "playbook.start")), 1)
        # The only re-trigger is the `sonae run` above: the restart asked nothing.
        self.assertEqual(len(audited(site, "playbook.retrigger")), 1)

        # In a maintenance window: held, nothing starts.
        r = site.sonae("--json", "maintenance", "add", "--device", "ups1", "--start",
                       "now", "--for", "1h", "-m", "battery swap")
        self.assertEqual(r.rc, EXIT_OK, r)
        window = r.json["id"]
        ups_set(ups, SOURCE, ON_MAINS)
        wait_until(lambda: site.incident("power-outage") is None, timeout=LONG,
                   what="the first incident resolved")
        ups_set(ups, SOURCE, ON_BATTERY)
        held = incident_open(site, "power-outage")
        self.assertNotEqual(held["id"], inc["id"])
        self.assertEqual(held["maintenance"], window)
        notes = [t for t in held["timeline"] if t["event"] == "playbook-held"]
        self.assertEqual(len(notes), 1, held["timeline"])
        self.assertIn("hold-on", notes[0]["text"])
        self.assertIn(window, notes[0]["text"])
        self.assertEqual([x["id"] for x in runs(site)], [run])
        self.assertEqual(audited(site, "playbook.start", incident=held["id"]), [])
        self.assertEqual(site.stop(), 0)


# --- 7. the audit journal --------------------------------------------------------

class Audit(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0 or shutil.which("setpriv") is None:
            raise AssertionError("needs root and setpriv (to run sonae as nobody)")

    def test_run_drill_confirm_abort_are_journaled_with_the_caller(self):
        site = Site(self)
        site.control.update({"group": "nogroup", "operators_group": "nogroup"})
        install(site, "checklist")
        site.start()
        run = start(site, "run", "checklist", "-m", "by root")
        wait_step(site, run, "look", "waiting")
        confirmed(self, site, run, "look", "looked", user="nobody")
        wait_step(site, run, "tell", "waiting")
        r = site.sonae("abort", str(run), "-m", "enough", user="nobody")
        self.assertEqual(r.rc, EXIT_OK, r)
        drill = start(site, "drill", "checklist", "-m", "by nobody", user="nobody")
        wait_step(site, drill, "look", "waiting")
        confirmed(self, site, drill, "look", "no", "--no")
        wait_run(site, drill, "failed")
        run3 = start(site, "run", "checklist", "-m", "to abort", user="nobody")
        wait_step(site, run3, "look", "waiting")
        self.assertEqual(site.sonae("abort", str(run3), "-m", "stop").rc, EXIT_OK)

        want = [("playbook.start", run, ROOT, {"drill": False, "reason": "by root"}),
                ("playbook.confirm", run, NOBODY, {"step": "look", "answer": "yes",
                                                   "text": "looked"}),
                ("playbook.abort", run, NOBODY, {"text": "enough"}),
                ("playbook.end", run, NOBODY, {"state": "aborted"}),
                ("playbook.start", drill, NOBODY, {"drill": True, "reason": "by nobody"}),
                ("playbook.confirm", drill, ROOT, {"step": "look", "answer": "no"}),
                ("playbook.end", drill, "sonaed", {"state": "failed", "drill": True}),
                ("playbook.start", run3, NOBODY, {"drill": False}),
                ("playbook.abort", run3, ROOT, {"text": "stop"})]
        entries = audit(site)
        for action, r_, actor, detail in want:
            with self.subTest(action=action, run=r_):
                got = [e for e in entries if e["action"] == action and
                       e["detail"].get("run") == r_]
                self.assertEqual(len(got), 1, got)
                self.assertEqual(got[0]["actor"], actor)
                for k, v in detail.items():
                    self.assertEqual(got[0]["detail"].get(k), v, got[0])
        # And as people read it.
        text = site.sonae("audit").out
        for action, actor in (("playbook.start", ROOT), ("playbook.confirm", NOBODY),
                              ("playbook.abort", NOBODY), ("playbook.start", NOBODY)):
            self.assertTrue([l for l in text.splitlines() if action in l and actor in l],
                            (action, actor, text[-3000:]))
        self.assertIs(site.ok("audit", "verify")["ok"], True)
        self.assertEqual(site.stop(), 0)


# --- the durations sonaed keeps -----------------------------------------------

class Timing(unittest.TestCase):
    def test_a_wait_and_a_confirm_timeout_last_their_whole_time(self):
        """A wait `for = 1s` and a confirm's `timeout = 1s`, each started
        right after steps that end at once (a drill records its exec steps):
        each lasts its whole second by the run's own record.  A timer armed
        against the loop's cached time (libevent's, from before the
        checkpoints the steps before it wrote) fires early by as long as
        those took."""
        tm = Timings(self)
        site = Site(self)
        install(site, "timing")
        log = site.path("scripts.log")
        param(site, "timing", "log", log)
        site.start()
        for verb in ("drill", "run"):
            with self.subTest(verb=verb):
                run = start(site, verb, "timing", "-m", "timing")
                rs = wait_run(site, run, "done", "failed", "aborted")
                self.assertEqual(rs["state"], "done", summary(rs))
                pause, ask = step(rs, "pause"), step(rs, "ask")
                tm.mark("%s %d: pause started" % (verb, run), ms(pause["started"]))
                tm.mark("%s %d: pause ended (%d ms)" % (verb, run, pause["duration_ms"]),
                        ms(pause["ended"]))
                tm.mark("%s %d: ask started" % (verb, run), ms(ask["started"]))
                tm.mark("%s %d: ask's default taken (%d ms)" % (verb, run,
                                                               ask["duration_ms"]),
                        ms(ask["ended"]))
                self.assertTrue(ask["result"].startswith("no answer within"), ask)
                # (1 ms for the two times' rounding to whole ms.)
                self.assertGreaterEqual(pause["duration_ms"], 999, pause)
                self.assertGreaterEqual(ask["duration_ms"], 999, ask)
        self.assertEqual(len(read_log(log)), 8, "the run ran its 8 programs")
        tm.show()
        self.assertEqual(site.stop(), 0)


if __name__ == "__main__":
    unittest.main()
