"""
sonae report: the files it writes and what a browser makes of them.

- Render: `sonae report render` of each fixture in tests/data/reports/ (the
  JSON contract of sonaed's report verbs, docs/reports.md): the files and
  the paths printed, --format, -o, atomic writes, and refusals (exit 1 for
  a file that is no report, 2 for usage).
- Daemon (FakeDaemon of test_incidents_cli): `sonae report incident|drill|
  inspection` ask for the report, send neither -o nor --format, name the
  files after what was asked, and --json passes the JSON through.
- Browser: headless Chromium (tests/integration/chromium.py) loads each
  report: the DOM has its sections, SVG plots whose lines have points, and
  the Japanese text; the screenshot is not blank; printed, it is A4 with a
  page per section.  The screenshots and PDFs are kept in the folder printed
  (Testing/artifacts/reports/ of the build).
"""
import json
import os
import re
import shutil
import sys
import tempfile
import unittest

import chromium
from harness import EXIT_FAILED, EXIT_OK, EXIT_USAGE, SONAE, SONAE_SRC, sonae
from test_incidents_cli import FakeDaemon

FIXTURES = os.path.join(SONAE_SRC, "tests", "data", "reports")
KINDS = {"incident": "incident-12", "drill": "drill-7", "inspection": "inspection-20261125"}


def fixture(kind):
    with open(os.path.join(FIXTURES, kind + ".json"), encoding="utf-8") as f:
        return json.load(f)


def build_dir():
    """The build folder of the sonae being tested: where CMakeCache.txt is."""
    d = os.path.dirname(os.path.abspath(SONAE))
    while d != "/":
        if os.path.exists(os.path.join(d, "CMakeCache.txt")):
            return d
        d = os.path.dirname(d)
    return tempfile.gettempdir()


ARTIFACTS = os.environ.get("SONAE_ARTIFACTS") or os.path.join(
    build_dir(), "Testing", "artifacts", "reports")


class Dir(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sonae-report-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def files(self):
        return sorted(os.listdir(self.dir))

    def read(self, name):
        with open(os.path.join(self.dir, name), encoding="utf-8") as f:
            return f.read()

    def write_json(self, name, doc):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False)
        return path


class Render(Dir):
    def test_each_fixture_both_formats(self):
        for kind, base in KINDS.items():
            out = os.path.join(self.dir, kind)
            r = sonae("report", "render", os.path.join(FIXTURES, kind + ".json"), "-o", out)
            self.assertEqual(r.rc, EXIT_OK, r)
            self.assertEqual(r.out.splitlines(),
                             [os.path.join(out, base + ".html"), os.path.join(out, base + ".md")])
            self.assertEqual(sorted(os.listdir(out)), [base + ".html", base + ".md"])
            with open(os.path.join(out, base + ".html"), encoding="utf-8") as f:
                html = f.read()
            with open(os.path.join(out, base + ".md"), encoding="utf-8") as f:
                md = f.read()
            self.assertTrue(html.startswith("<!DOCTYPE html>\n<html lang=\"ja\">"), html[:200])
            self.assertIn("Asia/Tokyo (UTC+09:00)", html)
            self.assertIn("Asia/Tokyo (UTC+09:00)", md)
            self.assertNotIn("<svg", md)

    def test_times_follow_the_site_zone_not_the_callers(self):
        doc = fixture("incident")
        path = self.write_json("in.json", doc)
        env = dict(os.environ, TZ="America/New_York")
        r = sonae("report", "render", path, "-o", self.dir, "--format", "md", env=env)
        self.assertEqual(r.rc, EXIT_OK, r)
        md = self.read("incident-12.md")
        self.assertIn("| 発生 / Opened | 2026-11-25 20:01:00 |", md)
        doc["site"]["timezone"] = "UTC"
        path = self.write_json("in.json", doc)
        r = sonae("report", "render", path, "-o", self.dir, "--format", "md", env=env)
        self.assertEqual(r.rc, EXIT_OK, r)
        md = self.read("incident-12.md")
        self.assertIn("| 発生 / Opened | 2026-11-25 11:01:00 |", md)
        self.assertIn("UTC (UTC+00:00)", md)

    def test_unknown_zone_is_said_and_utc_used(self):
        doc = fixture("drill")
        doc["site"]["timezone"] = "Mars/Olympus"
        r = sonae("report", "render", self.write_json("d.json", doc), "-o", self.dir,
                  "--format", "html")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertIn('unknown time zone "Mars/Olympus"', r.err)
        self.assertIn("UTC (UTC+00:00)", self.read("drill-7.html"))
        self.assertIn("2026-11-20 01:00:00", self.read("drill-7.html"))

    def test_format_one_only(self):
        src = os.path.join(FIXTURES, "drill.json")
        r = sonae("report", "render", src, "-o", self.dir, "--format", "md")
        self.assertEqual((r.rc, r.out), (EXIT_OK, os.path.join(self.dir, "drill-7.md") + "\n"))
        self.assertEqual(self.files(), ["drill-7.md"])
        r = sonae("report", "render", src, "--format", "html", "-o", self.dir)
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(self.files(), ["drill-7.html", "drill-7.md"])

    def test_default_dir_is_here_and_rewrites_whole(self):
        src = os.path.join(FIXTURES, "inspection.json")
        with open(os.path.join(self.dir, "inspection-20261125.md"), "w") as f:
            f.write("old\n" * 100000)
        r = sonae("report", "render", src, cwd=self.dir)
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(r.out.splitlines(), ["./inspection-20261125.html",
                                              "./inspection-20261125.md"])
        self.assertEqual(self.files(), ["inspection-20261125.html", "inspection-20261125.md"])
        self.assertTrue(self.read("inspection-20261125.md").startswith("# 自己点検報告書"))

    def test_missing_dir_is_made(self):
        out = os.path.join(self.dir, "reports")
        r = sonae("report", "render", os.path.join(FIXTURES, "drill.json"), "-o", out + "/")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(r.out.splitlines(), [os.path.join(out, "drill-7.html"),
                                              os.path.join(out, "drill-7.md")])
        self.assertEqual(sorted(os.listdir(out)), ["drill-7.html", "drill-7.md"])

    def test_json_passes_the_file_through(self):
        src = os.path.join(FIXTURES, "drill.json")
        r = sonae("report", "render", src, "--json", "-o", self.dir)
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(r.json, fixture("drill"))
        self.assertEqual(self.files(), [])

    def test_refusals(self):
        plain = self.write_json("status.json", {"site": "x", "devices": {}})
        broken = os.path.join(self.dir, "broken.json")
        with open(broken, "w") as f:
            f.write('{"report": "incident",\n  "incident": {\n')
        blocker = os.path.join(self.dir, "file")
        with open(blocker, "w") as f:
            f.write("x")
        for args, rc, err in [
                (["report", "render", plain, "-o", self.dir], EXIT_FAILED,
                 "not a sonae report"),
                (["report", "render", broken, "-o", self.dir], EXIT_FAILED,
                 "broken.json:3:"),
                (["report", "render", os.path.join(self.dir, "nope.json")], EXIT_FAILED,
                 "nope.json"),
                (["report", "render", os.path.join(FIXTURES, "drill.json"), "-o",
                  os.path.join(blocker, "sub")], EXIT_FAILED, "Not a directory"),
                (["report", "render", os.path.join(FIXTURES, "drill.json"), "--format",
                  "pdf"], EXIT_USAGE, "--format is html, md or both"),
                (["report", "render"], EXIT_USAGE, "missing arguments"),
                (["report", "render", "a.json", "b.json"], EXIT_USAGE, "too many arguments"),
                (["report", "render", "a.json", "-o"], EXIT_USAGE, "-o needs a value"),
                (["report", "render", "a.json", "--bogus"], EXIT_USAGE,
                 "unknown option --bogus"),
        ]:
            r = sonae(*args)
            self.assertEqual(r.rc, rc, (args, r))
            self.assertIn(err, r.err, (args, r))
            self.assertEqual(r.out, "", (args, r))
        self.assertEqual(self.files(), ["broken.json", "file", "status.json"])


class Daemon(Dir):
    def setUp(self):
        super().setUp()
        self.fake = FakeDaemon(self)

    def ask(self, *args, doc=None, answer=None):
        if answer is None:
            answer = (1, "ok", doc)
        r = self.fake.sonae(*args, answer=answer)
        self.assertEqual(len(self.fake.requests), 1, self.fake.requests)
        return r, self.fake.requests.pop()

    def test_incident(self):
        r, sent = self.ask("report", "incident", "12", "-o", self.dir, doc=fixture("incident"))
        self.assertEqual(sent, "report incident 12")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(r.out.splitlines(), [os.path.join(self.dir, "incident-12.html"),
                                              os.path.join(self.dir, "incident-12.md")])
        self.assertIn("停電: ups1 がバッテリー運転中", self.read("incident-12.md"))

    def test_drill_format(self):
        r, sent = self.ask("report", "drill", "7", "--format", "md", "-o", self.dir,
                           doc=fixture("drill"))
        self.assertEqual(sent, "report drill 7")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(self.files(), ["drill-7.md"])

    def test_inspection_period_goes_to_the_daemon(self):
        r, sent = self.ask("report", "inspection", "--since", "2026-10-27", "--until",
                           "2026-11-26", "-o", self.dir, doc=fixture("inspection"))
        self.assertEqual(sent, "report inspection --since 2026-10-27 --until 2026-11-26")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(self.files(), ["inspection-20261125.html", "inspection-20261125.md"])

    def test_json(self):
        r, sent = self.ask("--json", "report", "incident", "12", "-o", self.dir,
                           doc=fixture("incident"))
        self.assertEqual(sent, "report incident 12")
        self.assertEqual(r.rc, EXIT_OK, r)
        self.assertEqual(r.json, fixture("incident"))
        self.assertEqual(self.files(), [])

    def test_refused(self):
        r, sent = self.ask("report", "drill", "4", "-o", self.dir,
                           answer=(-1, "run 4 is not a drill (sonae report incident 12)", None))
        self.assertEqual(sent, "report drill 4")
        self.assertEqual(r.rc, EXIT_FAILED, r)
        self.assertIn("run 4 is not a drill", r.err)
        self.assertEqual(self.files(), [])

    def test_usage_sends_nothing(self):
        for args, err in [(["report", "incident"], "missing arguments"),
                          (["report", "incident", "12", "--format", "doc"], "--format"),
                          (["report", "drill", "7", "--until"], "unknown option --until"),
                          (["report", "inspection", "5"], "too many arguments")]:
            r = self.fake.sonae(*args)
            self.assertEqual(r.rc, EXIT_USAGE, (args, r))
            self.assertIn(err, r.err, (args, r))
        self.assertEqual(self.fake.requests, [])


SECTIONS = {
    "incident": ["summary", "timeline", "readings", "notifications", "runs", "decisions",
                 "modes", "followups"],
    "drill": ["summary", "steps", "would-run", "notifications", "decisions", "followups"],
    "inspection": ["summary", "config", "devices", "ups", "playbooks", "modes", "audit",
                   "failed-alerts", "incidents"],
}

TEXT = {
    "incident": ["インシデント事後報告書 / Incident after-action report", "タイムライン / Timeline",
                 "停電: ups1 がバッテリー運転中", "庁舎管理へ連絡", "tanaka(1002)",
                 "未完了の事項 / Open follow-ups"],
    "drill": ["【訓練】", "訓練報告書 / Drill report", "実行されなかった操作 / Would have run",
              "would run: test-srv.example.lan: /usr/bin/ssh -o BatchMode=yes "
              "sonae-shutdown@test-srv.example.lan sudo /sbin/poweroff", "bob(1001)"],
    "inspection": ["自己点検報告書 / Self-inspection report", "みどり町役場 本庁舎",
                   "cooling-failure", "97.80%", "-2.3 s/日 (day)"],
}

PLOTS = {"incident": 6, "drill": 0, "inspection": 2}


class Browser(Dir):
    @classmethod
    def setUpClass(cls):
        os.makedirs(ARTIFACTS, exist_ok=True)
        print("\nscreenshots in %s" % ARTIFACTS, file=sys.stderr)

    def test_fonts_for_japanese(self):
        self.assertIsNotNone(chromium.japanese_font(),
                             "no Japanese font: the screenshots would show boxes "
                             "(fonts-noto-cjk, scripts/setup.sh)")

    def test_reports_render(self):
        for kind, base in KINDS.items():
            with self.subTest(kind=kind):
                r = sonae("report", "render", os.path.join(FIXTURES, kind + ".json"),
                          "-o", self.dir, "--format", "html")
                self.assertEqual(r.rc, EXIT_OK, r)
                html = os.path.join(self.dir, base + ".html")
                want = ['<section id="%s">' % s for s in SECTIONS[kind]] + TEXT[kind]
                dom, stats = chromium.render_and_check(self, html, ARTIFACTS, base, want)
                shutil.copy(html, os.path.join(ARTIFACTS, base + ".html"))
                self.assertEqual(dom.count('<svg class="plot"'), PLOTS[kind], kind)
                lines = chromium.polylines(dom)
                if PLOTS[kind]:
                    self.assertGreaterEqual(len(lines), PLOTS[kind])
                    for pts in lines:
                        self.assertGreaterEqual(len(pts), 2, pts)
                        for x, y in pts:
                            self.assertTrue(0 <= x <= 640 and 0 <= y <= 210, (x, y))
                    self.assertGreater(stats["blue"], 50, "no plot lines drawn: %r" % stats)
                if kind != "drill":
                    self.assertGreater(stats["red"], 20, "no warnings drawn: %r" % stats)
                if kind == "inspection":
                    self.assertRegex(dom, r'<path class="band" d="M[0-9.]+,[0-9.]+L')
                if kind != "inspection":
                    self.assertIn('<svg class="gantt"', dom)
                    self.assertRegex(dom, r'<rect class="s-done" x="[0-9.]+" y="[0-9.]+" '
                                          r'width="[0-9.]+"')

    def test_printing(self):
        """A4, each section from a new page (the summary shares the first)."""
        for kind, base in KINDS.items():
            with self.subTest(kind=kind):
                r = sonae("report", "render", os.path.join(FIXTURES, kind + ".json"),
                          "-o", self.dir, "--format", "html")
                self.assertEqual(r.rc, EXIT_OK, r)
                pdf = chromium.print_pdf(os.path.join(self.dir, base + ".html"),
                                         os.path.join(ARTIFACTS, base + ".pdf"))
                pages, size = chromium.pdf_pages(pdf)
                self.assertEqual(size, (595, 842), "not A4")
                self.assertGreaterEqual(pages, len(SECTIONS[kind]), pdf)
                self.assertLess(pages, 4 * len(SECTIONS[kind]), pdf)

    def test_script_in_a_title_is_text(self):
        doc = fixture("incident")
        doc["incident"]["title"] = "<script>document.title='pwned'</script> & <b>停電</b>"
        r = sonae("report", "render", self.write_json("x.json", doc), "-o", self.dir,
                  "--format", "html")
        self.assertEqual(r.rc, EXIT_OK, r)
        dom, _ = chromium.render_and_check(
            self, os.path.join(self.dir, "incident-12.html"), ARTIFACTS, "incident-script",
            ["&lt;script&gt;document.title='pwned'&lt;/script&gt; &amp; &lt;b&gt;停電"])
        self.assertNotIn("<b>", dom)
        title = re.search(r"<title>(.*?)</title>", dom, re.S).group(1)
        self.assertNotEqual(title, "pwned")

    def test_blank_page_is_caught(self):
        """The checker itself: a page with nothing on it fails it."""
        blank = os.path.join(self.dir, "blank.html")
        with open(blank, "w") as f:
            f.write("<!DOCTYPE html><html><body></body></html>")
        with self.assertRaises(AssertionError):
            chromium.render_and_check(self, blank, self.dir, "blank")


if __name__ == "__main__":
    unittest.main()
