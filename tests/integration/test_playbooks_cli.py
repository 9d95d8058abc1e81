"""
The playbook verbs of sonae against a stand-in for sonaed (FakeDaemon of
test_incidents_cli): playbooks, playbook, run, drill, runs, run-status,
confirm, abort.

- Wire: what goes to the daemon (positional words first, every --set in
  order, --no and --retry), and usage errors that send nothing.
- Rendering: what people see, from JSON of the shapes in docs/cli.md.

The engine's own behaviour (who may answer, drills, checkpoints) is tested
with the real daemon elsewhere.
"""
import unittest

from test_incidents_cli import FakeDaemon


def t(hms, day="2026-11-25"):
    return "%sT%s.000+09:00" % (day, hms)


TITLES = {"title_ja": "停電対応", "title_en": "Power outage"}

ROOM = {"id": "room", "title": "サーバ室を点検 (Inspect the server room)",
        "question": "Server room checked: nothing else wrong?", "who": ["operators"],
        "since": t("20:01:05"), "deadline": t("20:31:05"), "default": "no",
        "unknown": False}

RUN3 = dict(TITLES, **{
    "id": 3, "playbook": "power-outage", "incident": 12, "drill": False,
    "state": "running", "requested_by": "sonaed",
    "reason": "incident 12: power-outage (ups1 on battery)",
    "started": t("20:01:02"), "ended": None,
    "step": {"id": "room", "title": ROOM["title"], "type": "confirm",
             "state": "waiting"},
    "waiting": [ROOM],
    "progress": {"total": 8, "done": 2, "failed": 1, "skipped": 1, "pending": 1},
})

DRILL7 = {
    "id": 7, "playbook": "battery-critical",
    "title_ja": "バッテリー残量低下時の計画停止", "title_en": "Battery critical",
    "incident": None, "drill": True, "state": "done", "requested_by": "alice(1000)",
    "reason": "", "started": t("10:00:00", "2026-11-20"),
    "ended": t("10:20:00", "2026-11-20"), "step": None, "waiting": [],
    "progress": {"total": 1, "done": 1, "failed": 0, "skipped": 0, "pending": 0},
}


def step(id, title, type="notify", state="pending", **kw):
    s = {"id": id, "title": title, "type": type, "state": state, "destructive": False,
         "would_run": False, "attempts": 0, "started": None, "ended": None,
         "duration_ms": None, "result": None, "actor": None, "output": None,
         "question": None, "who": None, "deadline": None}
    s.update(kw)
    return s


STATUS3 = dict(RUN3, steps=[
    step("notify", "停電を通知 (Notify: on battery)", state="done", attempts=1,
         started=t("20:01:02"), ended=t("20:01:03"), duration_ms=412,
         result="queued for ict@example.jp"),
    step("facilities", "庁舎管理へ連絡 (Call facilities)", "confirm", "done", attempts=1,
         started=t("20:01:03"), ended=t("20:04:10"), duration_ms=187000,
         result="yes: 全館停電", actor="alice(1000)"),
    step("room", ROOM["title"], "confirm", "waiting", attempts=1, started=t("20:01:05"),
         question=ROOM["question"], who=["operators"], deadline=ROOM["deadline"]),
    step("probe", "Probe the rack", "exec", "failed", attempts=2, destructive=True,
         started=t("20:02:00"), ended=t("20:02:03"), duration_ms=3100,
         result="exit status 3",
         output="one\ntwo\nthree\nfour\nfive\nsix: \x1b[31mred\x1b[0m\tend\n"),
    step("shut", "Shut down tier 1", "shutdown-tier", "unknown", attempts=1,
         destructive=True, started=t("20:03:00")),
    step("mains", "復電を待つ (Wait for mains)", "wait", "running", attempts=1,
         started=t("20:05:00")),
    step("restored", "復電を通知 (Notify: mains back)", state="skipped",
         result="when: !ups1.on_battery is false"),
    step("exit", "収束を判断 (Exit criteria met)", "confirm"),
], log=[{"time": t("20:01:%02d" % i), "actor": "sonaed", "event": "playbook.step",
         "text": "entry %d" % i} for i in range(12)])

SUMMARIES = [
    dict(TITLES, name="power-outage", description="The UPS is on battery.",
         file="/etc/sonae/playbooks/power-outage.conf", triggers=["power-outage"],
         steps=8, destructive=False, running=[3], last_run=RUN3, last_drill=None),
    {"name": "communications-outage", "title_ja": "通信障害対応",
     "title_en": "Communications outage", "description": None,
     "file": "/etc/sonae/playbooks/communications-outage.conf",
     "triggers": ["lgwan-down", "declared:communications"], "steps": 9,
     "destructive": False, "running": [], "last_run": dict(RUN3, id=12, state="aborted"),
     "last_drill": dict(DRILL7, id=120)},
]

PLAYBOOK = dict(
    TITLES, name="power-outage", description="The UPS is on battery.",
    file="/etc/sonae/playbooks/power-outage.conf", triggers=["power-outage"],
    triggered_by=["ups-on-battery"],
    parameters=[
        {"name": "contact", "default": "ict@example.jp", "description": "The ICT team",
         "value": "soumu@example.jp", "source": "site"},
        {"name": "facilities_contact", "default": "庁舎管理担当", "description": None,
         "value": "庁舎管理担当", "source": "default"},
        {"name": "tier1_host", "default": None, "description": "Tier 1 host",
         "value": None, "source": None}],
    steps=[
        {"id": "notify", "type": "notify", "title": "停電を通知", "timeout_ms": 0,
         "retries": 0, "idempotent": True, "destructive": False},
        {"id": "facilities", "type": "confirm", "title": "庁舎管理へ連絡",
         "timeout_ms": 900000, "retries": 0, "on_failure": "continue",
         "idempotent": True, "destructive": False},
        {"id": "tier1", "type": "shutdown-tier", "title": "第1層を停止",
         "when": "ups1.charge < 20", "timeout_ms": 0, "retries": 2,
         "on_failure": "goto:exit", "idempotent": False, "destructive": True},
        {"id": "exit", "type": "confirm", "title": "収束を判断", "timeout_ms": 0,
         "retries": 0, "idempotent": True, "destructive": False}],
    runs=[RUN3, DRILL7])


class FakeDaemonTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeDaemon(self)

    def sent(self):
        self.assertEqual(len(self.fake.requests), 1, self.fake.requests)
        return self.fake.requests.pop()


class Wire(FakeDaemonTest):
    def test_run(self):
        r = self.fake.sonae("run", "--set", "contact=a@example.jp", "power-outage",
                            "--incident", "12", "--set", "tier1_host=srv 1", "-m", "停電",
                            answer=(1, "run 3 of power-outage started", {"run": 3}))
        self.assertEqual((r.rc, r.out, r.err), (0, "run 3 of power-outage started\n", ""))
        self.assertEqual(self.sent(), 'run power-outage --set contact=a@example.jp '
                                      '--incident 12 --set "tier1_host=srv 1" -m 停電')

    def test_drill(self):
        text = "drill run 8 of power-outage started: nothing destructive runs"
        r = self.fake.sonae("drill", "power-outage", answer=(1, text, {"run": 8}))
        self.assertEqual((r.rc, r.out), (0, text + "\n"), r)
        self.assertEqual(self.sent(), "drill power-outage")
        r = self.fake.sonae("--json", "drill", "power-outage", "--set", "a=1", "-m", "x")
        self.assertEqual((r.rc, r.json), (0, {"run": 8}), r)
        self.assertEqual(self.sent(), "drill power-outage --set a=1 -m x")

    def test_confirm(self):
        for flags, text in (((), "yes"), (("--no",), "no"), (("--retry",), "run again")):
            with self.subTest(flags=flags):
                r = self.fake.sonae("confirm", "3", *flags, "room", "-m", "checked",
                                    answer=(0, "run 3 step room: " + text, None))
                self.assertEqual((r.rc, r.out), (0, "run 3 step room: %s\n" % text), r)
                self.assertEqual(self.sent(), " ".join(("confirm 3 room",) + flags +
                                                       ("-m checked",)))

    def test_abort_and_reads(self):
        r = self.fake.sonae("--json", "abort", "3", "-m", "false alarm",
                            answer=(0, "run 3 aborted", None))
        self.assertEqual((r.rc, r.json), (0, {"result": "run 3 aborted"}), r)
        self.assertEqual(self.sent(), 'abort 3 -m "false alarm"')
        for args in (("playbooks",), ("playbook", "fire"), ("runs",), ("runs", "--all"),
                     ("run-status", "3")):
            with self.subTest(args=args):
                self.fake.sonae(*args, answer=(1, "ok", {}))
                self.assertEqual(self.sent(), " ".join(args))

    def test_refused(self):
        r = self.fake.sonae("confirm", "3", "room", "-m", "x",
                            answer=(-1, "run 3 step room is not waiting for an answer",
                                    None))
        self.assertEqual((r.rc, r.out, r.err),
                         (1, "", "sonae: run 3 step room is not waiting for an answer\n"))

    def test_cli_usage_errors_send_nothing(self):
        for args in (("playbook",), ("playbooks", "x"), ("run",), ("run", "a", "b"),
                     ("run", "a", "--set"), ("run", "a", "--no"), ("drill",),
                     ("drill", "a", "--incident", "3"), ("runs", "x"), ("run-status",),
                     ("confirm", "3"), ("confirm", "3", "a", "b"),
                     ("confirm", "3", "a", "--set", "x=1"), ("abort",),
                     ("abort", "3", "--no")):
            with self.subTest(args=args):
                r = self.fake.sonae(*args)
                self.assertEqual((r.rc, r.out), (2, ""), r)
                self.assertIn("usage: sonae ", r.err)
        self.assertEqual(self.fake.requests, [])


class Rendering(FakeDaemonTest):
    def test_playbooks(self):
        r = self.fake.sonae("playbooks", answer=(1, "ok", {"playbooks": SUMMARIES}))
        self.assertEqual(r.rc, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(len(lines), 3, r.out)
        self.assertRegex(lines[0], r"^NAME\s+TRIGGERS\s+STEPS  LAST RUN\s+LAST DRILL\s+"
                                   r"RUNNING TITLE$")
        self.assertRegex(lines[1], r"^power-outage\s+power-outage\s+8  #3 running "
                                   r"2026-11-25 20:01:02\s+never drilled\s+3\s+"
                                   r"停電対応 / Power outage$")
        self.assertRegex(lines[2], r"^communications-outage lgwan-down,declared:"
                                   r"communications\s+9  #12 aborted 2026-11-25 20:01:02 "
                                   r"#120 done 2026-11-20 10:00:00 -\s+"
                                   r"通信障害対応 / Communications outage$")
        # ASCII columns line up.
        col = lines[0].index("LAST DRILL")
        self.assertEqual([ln[col:col + 5] for ln in lines[1:]], ["never", "#120 "])
        r = self.fake.sonae("playbooks", answer=(1, "ok", {"playbooks": []}))
        self.assertEqual((r.rc, r.out), (0, "no playbooks\n"), r)

    def test_playbook(self):
        r = self.fake.sonae("playbook", "power-outage", answer=(1, "ok", PLAYBOOK))
        self.assertEqual(r.rc, 0, r)
        for pattern in (
                r"(?m)^playbook\s+power-outage$",
                r"(?m)^title\s+停電対応 / Power outage$",
                r"(?m)^description\s+The UPS is on battery\.$",
                r"(?m)^file\s+/etc/sonae/playbooks/power-outage\.conf$",
                r"(?m)^triggers\s+power-outage$",
                r"(?m)^triggered by ups-on-battery$",
                r"(?m)^PARAMETER\s+SOURCE\s+VALUE \(DESCRIPTION\)$",
                r"(?m)^contact\s+site\s+soumu@example\.jp \(The ICT team\)$",
                r"(?m)^facilities_contact\s+default\s+庁舎管理担当$",
                r"(?m)^tier1_host\s+-\s+none: a run gives it with --set tier1_host=VALUE "
                r"\(Tier 1 host\)$",
                r"(?m)^steps \(! destructive: a drill records it and runs nothing\)$",
                r"(?m)^  1   notify\s+notify\s+停電を通知$",
                r"(?m)^  2   facilities confirm\s+庁舎管理へ連絡\n\s+timeout 15min; "
                r"on failure continue$",
                r"(?m)^  3 ! tier1\s+shutdown-tier 第1層を停止\n\s+when ups1\.charge < 20; "
                r"retries 2; on failure goto:exit$",
                r"(?m)^  4   exit\s+confirm\s+収束を判断$",
                r"(?m)^last runs\n\s+RUN INCIDENT\s+STATE\s+STARTED\s+WAITING\s+STEP$",
                r"(?m)^\s+3 #12\s+running\s+2026-11-25 20:01:02 room\s+"
                r"room: サーバ室を点検",
                r"(?m)^\s+7 -\s+done \(drill\)\s+2026-11-20 10:00:00 -\s+-$"):
            self.assertRegex(r.out, pattern)
        # The details line up under the titles.
        lines = r.out.splitlines()
        i = next(k for k, ln in enumerate(lines) if ln.startswith("  2 "))
        self.assertEqual(lines[i + 1].index("timeout"), lines[i].index("confirm") + 14)
        quiet = dict(PLAYBOOK, description=None, triggered_by=[], parameters=[],
                     steps=PLAYBOOK["steps"][:1], runs=[])
        r = self.fake.sonae("playbook", "power-outage", answer=(1, "ok", quiet))
        self.assertRegex(r.out, r"(?m)^triggered by -$")
        self.assertRegex(r.out, r"(?m)^steps\n  1   notify")
        self.assertRegex(r.out, r"(?m)^never run$")
        for absent in ("description", "PARAMETER", "destructive", "last runs"):
            self.assertNotIn(absent, r.out)

    def test_runs(self):
        r = self.fake.sonae("runs", answer=(1, "ok", {"runs": [RUN3, DRILL7]}))
        self.assertEqual(r.rc, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(len(lines), 3, r.out)
        self.assertRegex(lines[0], r"^\s+RUN PLAYBOOK\s+INCIDENT STATE\s+STARTED\s+"
                                   r"WAITING\s+STEP$")
        self.assertRegex(lines[1], r"^\s+3 power-outage\s+#12\s+running\s+"
                                   r"2026-11-25 20:01:02 room\s+"
                                   r"room: サーバ室を点検 \(Inspect the server room\)$")
        self.assertRegex(lines[2], r"^\s+7 battery-critical\s+-\s+done \(drill\)\s+"
                                   r"2026-11-20 10:00:00 -\s+-$")
        r = self.fake.sonae("runs", answer=(1, "ok", {"runs": []}))
        self.assertEqual((r.rc, r.out), (0, "no runs under way or ended in the last 24 h\n"))
        r = self.fake.sonae("runs", "--all")
        self.assertEqual((r.rc, r.out), (0, "no runs\n"))

    def test_run_status(self):
        r = self.fake.sonae("run-status", "3", answer=(1, "ok", STATUS3))
        self.assertEqual(r.rc, 0, r)
        out = r.out
        self.assertNotIn("DRILL", out)
        head, checklist, log = out.split("\n\n")
        self.assertEqual(head.splitlines(), [
            "run          3",
            "playbook     power-outage (停電対応 / Power outage)",
            "incident     12",
            "state        running",
            "requested by sonaed",
            "reason       incident 12: power-outage (ups1 on battery)",
            "started      2026-11-25 20:01:02",
            "progress     2 of 8 steps done, 1 failed, 1 skipped, 1 pending"])
        self.assertEqual(checklist.splitlines(), [
            "[x] notify     停電を通知 (Notify: on battery)  20:01:02 to 20:01:03 (412ms); "
            "queued for ict@example.jp",
            "[x] facilities 庁舎管理へ連絡 (Call facilities)  20:01:03 to 20:04:10 "
            "(3min7s); yes: 全館停電; by alice(1000)",
            "[?] room       サーバ室を点検 (Inspect the server room)  asked 20:01:05",
            "      operators: Server room checked: nothing else wrong? "
            "(answer by 20:31:05, else no)",
            "      yes: sonae confirm 3 room -m TEXT",
            "      no:  sonae confirm 3 room --no -m TEXT",
            "[!] probe      Probe the rack  20:02:00 to 20:02:03 (3.1s); attempt 2; "
            "exit status 3",
            "      | (1 earlier line: sonae --json run-status 3)",
            "      | two",
            "      | three",
            "      | four",
            "      | five",
            "      | six: ?[31mred?[0m end",
            "[#] shut       Shut down tier 1  started 20:03:00",
            "      sonaed stopped while it ran: did it happen?",
            "      sonae confirm 3 shut -m TEXT (it happened) | --no (it did not) | "
            "--retry (run it again)",
            "[>] mains      復電を待つ (Wait for mains)  since 20:05:00",
            "[-] restored   復電を通知 (Notify: mains back)  when: !ups1.on_battery is false",
            "[ ] exit       収束を判断 (Exit criteria met)"])
        log = log.splitlines()
        self.assertEqual(log[0], "log, the last 10 of 12 lines "
                                 "(all: sonae --json run-status 3)")
        self.assertEqual(len(log), 11, log)
        self.assertRegex(log[1], r"^  2026-11-25 20:01:02  sonaed\s+playbook\.step\s+"
                                 r"entry 2$")
        self.assertRegex(log[-1], r"entry 11$")

    def test_drill_status(self):
        st = dict(DRILL7, steps=[
            step("tier1", "第1層を停止 (Shut down tier 1)", "shutdown-tier", "done",
                 destructive=True, would_run=True, attempts=1,
                 started=t("10:01:00", "2026-11-20"), ended=t("10:01:00", "2026-11-20"),
                 duration_ms=3, result="would run /usr/local/sbin/sonae-host-down srv1")],
            log=[])
        r = self.fake.sonae("run-status", "7", answer=(1, "ok", st))
        self.assertEqual(r.rc, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(lines[0], "【訓練】DRILL: nothing destructive runs")
        for line in ("incident     none", "state        done (drill)",
                     "requested by alice(1000)", "reason       -",
                     "ended        2026-11-20 10:20:00",
                     "[~] tier1 第1層を停止 (Shut down tier 1)  10:01:00 (3ms); "
                     "drill: not run; would run /usr/local/sbin/sonae-host-down srv1"):
            self.assertIn(line, lines)
        self.assertEqual(lines[-1][:3], "[~]")

    def test_long_output_is_cut(self):
        line = "漏" * 100 + "x" * 10
        st = dict(STATUS3, steps=[step("probe", "Probe", "exec", "failed",
                                       output=line + "\r\n" + "\x1b]0;title\x07\x9b")],
                  log=[])
        r = self.fake.sonae("run-status", "3", answer=(1, "ok", st))
        self.assertEqual(r.rc, 0, r)
        out = r.out.splitlines()
        # 160 bytes: 53 whole characters of 3 bytes and the one begun, then "...".
        self.assertEqual(out[-2], "      | " + "漏" * 54 + "...")
        self.assertEqual(out[-1], "      | ?]0;title??")


if __name__ == "__main__":
    unittest.main()
