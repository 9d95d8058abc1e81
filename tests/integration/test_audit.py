"""
The audit journal: what is journaled and by whom, `sonae audit --since`,
and `sonae audit verify` against a journal tampered with on disk while the
daemon runs (an edited byte, a deleted line, two swapped lines, the last line
removed).
"""
import datetime
import json
import os
import unittest

from harness import GENESIS, Site, audit_entry_line

SCENARIO = """\
unit temp degC
0    temp=20.5
end  10s
"""


def journal_time(dt):
    """A time as the journal writes it: 2026-11-25T20:01:02.345+09:00."""
    return dt.isoformat(timespec="milliseconds")


class Journal(unittest.TestCase):
    def site(self):
        site = Site(self)
        site.device("ups", SCENARIO)
        site.start()
        return site

    def verify(self, site):
        """`sonae audit verify`: (rc, stdout, stderr)."""
        r = site.sonae("audit", "verify")
        return r.rc, r.out, r.err

    def test_actions_are_journaled(self):
        site = self.site()
        self.assertEqual(site.sonae("reload").rc, 0)
        self.assertEqual(site.sonae("audit", "verify").rc, 0)
        entries = site.ok("audit")["entries"]
        self.assertEqual([(e["seq"], e["actor"], e["action"]) for e in entries],
                         [(1, "sonaed", "daemon.start"),
                          (2, "root(0)", "config.reload"),
                          (3, "root(0)", "audit.verify")])
        start = entries[0]["detail"]
        self.assertEqual((start["pid"], start["config"], start["devices"]),
                         (site.pid, site.conf, 1))
        self.assertEqual(entries[2]["detail"], {"ok": True, "entries": 2})
        # Each entry chains to the one before it.
        self.assertEqual(entries[0]["prev"], GENESIS)
        for a, b in zip(entries, entries[1:]):
            self.assertEqual(b["prev"], a["hash"])
        self.assertEqual(site.status()["audit"], {"seq": 3, "head": entries[2]["hash"]})

        # The text form, one line per entry.
        out = site.sonae("audit").out.splitlines()
        self.assertEqual(len(out), 3, out)
        self.assertRegex(out[0], r"^\s+1  \S+ \S+  sonaed\s+daemon\.start\s+\{")
        self.assertRegex(out[2], r"^\s+3  \S+ \S+  root\(0\)\s+audit\.verify\s+"
                                 r"\{\"ok\":true,\"entries\":2\}$")

        pid = site.pid
        self.assertEqual(site.stop(), 0)
        last = site.journal()[-1]
        self.assertEqual((last["seq"], last["actor"], last["action"], last["detail"]),
                         (4, "sonaed", "daemon.stop", {"pid": pid}))

    def test_since_filters(self):
        """Entries older than --since are left out.  The journal is seeded
        with a valid chain dated two days ago before the daemon starts."""
        site = Site(self)
        site.device("ups", SCENARIO)
        os.mkdir(site.state_dir, 0o750)
        tz = datetime.timezone(datetime.timedelta(hours=9))  # site.timezone Asia/Tokyo
        old = datetime.datetime.now(tz) - datetime.timedelta(days=2)
        prev, lines = GENESIS, []
        for seq, action in ((1, "daemon.start"), (2, "config.reload"), (3, "daemon.stop")):
            line, prev = audit_entry_line(seq, journal_time(old + datetime.timedelta(minutes=seq)),
                                          "sonaed", action, {"old": True}, prev)
            lines.append(line)
        with open(site.journal_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        site.start()

        self.assertEqual(site.sonae("reload").rc, 0)
        all_entries = site.ok("audit")["entries"]
        self.assertEqual([e["seq"] for e in all_entries], [1, 2, 3, 4, 5])
        recent = site.ok("audit", "--since", "1h")["entries"]
        self.assertEqual([(e["seq"], e["action"]) for e in recent],
                         [(4, "daemon.start"), (5, "config.reload")])
        self.assertEqual(recent[0]["prev"], all_entries[2]["hash"])
        three_days = site.ok("audit", "--since", "3d")["entries"]
        self.assertEqual(len(three_days), 5)
        day = (old - datetime.timedelta(days=1)).strftime("%Y-%m-%d")
        self.assertEqual(len(site.ok("audit", "--since", day)["entries"]), 5)
        # The seeded chain is a valid one: verify accepts it.
        j = site.ok("audit", "verify")
        self.assertEqual((j["ok"], j["entries"]), (True, 5))
        self.assertEqual(site.stop(), 0)

    def test_verify_untouched(self):
        site = self.site()
        for _ in range(3):
            self.assertEqual(site.sonae("reload").rc, 0)
        rc, out, err = self.verify(site)
        self.assertEqual((rc, err), (0, ""))
        self.assertRegex(out, r"^%s: ok, 4 entries, head seq 4 [0-9a-f]{64}\n$" %
                         site.journal_path)
        j = site.ok("audit", "verify")
        self.assertEqual((j["ok"], j["entries"], j["head"]["seq"]), (True, 5, 5))
        self.assertEqual(j["journal"], site.journal_path)
        self.assertEqual(site.stop(), 0)

    def busy_site(self, reloads=4):
        """A site whose journal has 1 + reloads entries."""
        site = self.site()
        for _ in range(reloads):
            self.assertEqual(site.sonae("reload").rc, 0)
        self.assertEqual(len(site.journal_lines()), 1 + reloads)
        return site

    def refused(self, site, line, problem, again=True):
        """audit verify fails at line with problem.  again: a second run
        (--json) finds the same (not so when the cut was at the end: the
        first run's own entry then follows the cut)."""
        rc, out, err = self.verify(site)
        self.assertEqual((rc, out), (1, ""), err)
        self.assertEqual(err, "%s:%d: %s\n" % (site.journal_path, line, problem))
        j = site.sonae("--json", "audit", "verify")
        self.assertEqual(j.rc, 1)
        self.assertIs(j.json["ok"], False)
        if again:
            self.assertEqual((j.json["line"], j.json["problem"]), (line, problem))
        self.assertIn("audit verify: %s:%d: %s" % (site.journal_path, line, problem),
                      site.log_text())
        # The failed verification is journaled too, and the daemon runs on.
        self.assertEqual(site.journal()[-1]["action"], "audit.verify")
        self.assertEqual(site.journal()[-1]["detail"]["ok"], False)
        self.assertEqual(site.sonae("status").rc, 0)

    def test_edited_byte(self):
        site = self.busy_site()
        lines = site.journal_lines()
        self.assertIn(b'"devices":1', lines[0])
        lines[0] = lines[0].replace(b'"devices":1', b'"devices":7', 1)
        json.loads(lines[0])  # still well-formed: only the hash gives it away
        site.rewrite_journal(lines)
        self.refused(site, 1, "content does not match its hash: the line was edited")
        self.assertEqual(site.stop(), 0)

    def test_edited_byte_in_a_middle_line(self):
        site = self.busy_site()
        lines = site.journal_lines()
        self.assertIn(b'"unchanged":1', lines[2])
        lines[2] = lines[2].replace(b'"unchanged":1', b'"unchanged":0', 1)
        site.rewrite_journal(lines)
        self.refused(site, 3, "content does not match its hash: the line was edited")
        self.assertEqual(site.stop(), 0)

    def test_deleted_middle_line(self):
        site = self.busy_site()
        lines = site.journal_lines()
        del lines[2]
        site.rewrite_journal(lines)
        self.refused(site, 3, "seq 4 where 3 was expected: entries were removed or reordered before it")
        self.assertEqual(site.stop(), 0)

    def test_swapped_lines(self):
        site = self.busy_site()
        lines = site.journal_lines()
        lines[1], lines[2] = lines[2], lines[1]
        site.rewrite_journal(lines)
        self.refused(site, 2, "seq 3 where 2 was expected: entries were removed or reordered before it")
        self.assertEqual(site.stop(), 0)

    def test_duplicated_line(self):
        site = self.busy_site()
        lines = site.journal_lines()
        lines.insert(2, lines[1])
        site.rewrite_journal(lines)
        self.refused(site, 3, "seq 2 where 3 was expected: lines were reordered or duplicated")
        self.assertEqual(site.stop(), 0)

    def test_deleted_last_line(self):
        """The chain of what is left is intact: only the daemon's head shows
        that the end was cut off."""
        site = self.busy_site()
        lines = site.journal_lines()
        del lines[-1]
        site.rewrite_journal(lines)
        self.refused(site, 5, "the journal ends at seq 4 but the daemon last wrote seq 5: "
                              "entries were removed or replaced at the end", again=False)
        self.assertEqual(site.stop(), 0)

    def test_replaced_line_with_valid_hash(self):
        """A forged line with a correct hash of its own but the wrong prev."""
        site = self.busy_site()
        lines = site.journal_lines()
        e = json.loads(lines[2])
        forged, _ = audit_entry_line(e["seq"], e["time"], "mallory", e["action"], e["detail"],
                                     "f" * 64)
        lines[2] = forged.encode()
        site.rewrite_journal(lines)
        self.refused(site, 3, "seq 3 does not chain to the line before it: a line was replaced")
        self.assertEqual(site.stop(), 0)


if __name__ == "__main__":
    unittest.main()
