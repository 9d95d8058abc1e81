"""
sonae report against the real sonaed: a site in Asia/Tokyo declares an
incident and resolves it; `sonae report incident` and `sonae report
inspection` write their files from what the daemon answers (the JSON
contract of docs/reports.md), and headless Chromium (chromium.py) loads them.

Chromium is part of the test machine (scripts/setup.sh installs it): a
missing one fails the test, it never skips it.
"""
import json
import os
import shutil
import tempfile
import unittest

import chromium
from harness import EXIT_OK, Site, cfg_value
from test_report_render import ARTIFACTS

SCENARIO = """\
unit temp degC
0    temp=20.5 up=true
end  10s
"""


class RealDaemon(unittest.TestCase):
    def setUp(self):
        self.site = Site(self, name="報告書テスト庁舎")
        self.site.device("ups1", SCENARIO)
        # The site's zone: every time in the reports is in it.
        text = self.site.config_text().replace(
            "site: " + cfg_value({"name": self.site.name}) + ";",
            "site: " + cfg_value({"name": self.site.name, "timezone": "Asia/Tokyo"}) + ";")
        self.assertIn("Asia/Tokyo", text)
        self.site.write_config(text)
        self.site.start(write=False)
        self.out = tempfile.mkdtemp(prefix="sonae-report-daemon-")
        self.addCleanup(shutil.rmtree, self.out, ignore_errors=True)

    def report(self, *args):
        r = self.site.sonae("report", *args, "-o", self.out)
        self.assertEqual(r.rc, EXIT_OK, r)
        return r.out.splitlines()

    def test_incident(self):
        declared = self.site.ok("declare", "flood-warning", "-m", "大雨警報 <河川> & 避難準備")
        self.site.ok("resolve", declared["id"], "-m", "警報解除")
        paths = self.report("incident", declared["id"])
        base = os.path.join(self.out, "incident-%d" % declared["id"])
        self.assertEqual(paths, [base + ".html", base + ".md"])
        r = self.site.sonae("--json", "report", "incident", declared["id"])
        self.assertEqual(r.rc, EXIT_OK, r)
        doc = json.loads(r.out)
        self.assertEqual(doc["report"], "incident")
        self.assertEqual(doc["site"]["timezone"], "Asia/Tokyo")
        chromium.render_and_check(
            self, base + ".html", ARTIFACTS, "daemon-incident",
            ['<section id="summary">', '<section id="timeline">',
             "インシデント事後報告書", "Asia/Tokyo (UTC+09:00)", "警報解除"])

    def test_inspection(self):
        paths = self.report("inspection", "--since", "1d")
        self.assertEqual(len(paths), 2, paths)
        self.assertTrue(all(os.path.basename(p).startswith("inspection-") for p in paths))
        chromium.render_and_check(
            self, paths[0], ARTIFACTS, "daemon-inspection",
            ['<section id="devices">', '<section id="audit">', "ups1", "自己点検報告書"])


if __name__ == "__main__":
    unittest.main()
