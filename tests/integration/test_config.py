"""
Configuration errors: every class of mistake is refused with the file and
line that hold it, the same way by `sonae validate FILE` (no daemon) and by
`sonaed -n -c FILE`; a good file passes both; `sonae validate` without FILE
asks the running daemon about its own file; the examples under etc/ validate.
"""
import os
import re
import shutil
import tempfile
import unittest

from harness import SONAE, SONAE_SRC, SONAED, Site, run, sonae

SCENARIO = """\
unit temp degC
0   temp=20.5 ok=true
1s  temp=21
end 2s
"""


class ConfigFiles(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sonae-it-conf-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.write("ok.replay", SCENARIO)

    def write(self, name, text):
        p = os.path.join(self.dir, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def refused(self, text, where, key, fragment, name="sonae.conf", files=None):
        """Write the configuration (and files), check that both tools refuse
        it with exactly one error, at where (file:line), for key, whose
        message holds fragment.  where may be a compiled regex."""
        for fname, ftext in (files or {}).items():
            self.write(fname, ftext)
        conf = self.write(name, text)
        if isinstance(where, str):
            where = re.compile(re.escape(where))
        expect = re.compile("^(?:%s): %s: .*%s" % (where.pattern, re.escape(key),
                                                   re.escape(fragment)))

        r = sonae("validate", conf)
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.out, "", r)
        errs = r.err.splitlines()
        self.assertEqual(len(errs), 2, r)
        self.assertRegex(errs[0], expect)
        self.assertEqual(errs[1], "%s: 1 error" % conf)

        r2 = run([SONAED, "-n", "-c", conf])
        self.assertEqual(r2.rc, 1, r2)
        self.assertEqual(r2.out, "", r2)
        errs2 = r2.err.splitlines()
        self.assertEqual(errs2, [errs[0], "%s: 1 error; not started" % conf], r2)

        # --json says the same.
        r3 = sonae("--json", "validate", conf)
        self.assertEqual(r3.rc, 1, r3)
        j = r3.json
        self.assertIs(j["ok"], False)
        self.assertEqual(j["errors"], [errs[0]])
        return errs[0]

    def p(self, name):
        return os.path.join(self.dir, name)

    # One test per error class.

    def test_unknown_key(self):
        self.refused('site: {\n\tname = "t";\n\tnmae = "x";\n};\n',
                     self.p("sonae.conf") + ":3", "site.nmae",
                     'unknown key (did you mean "name"?)')

    def test_unknown_key_in_device(self):
        self.refused('site: { name = "t"; };\n'
                     'devices = (\n'
                     '\t{\n'
                     '\t\tname = "a";\n'
                     '\t\treplay = { scenario = "ok.replay"; };\n'
                     '\t\tcolour = "red";\n'
                     '\t}\n'
                     ');\n',
                     self.p("sonae.conf") + ":6", "devices[0].colour", "unknown key")

    def test_wrong_type(self):
        self.refused('site: { name = "t"; };\ncontrol: {\n\tmax_line = "big";\n};\n',
                     self.p("sonae.conf") + ":3", "control.max_line", "expected an integer")

    def test_wrong_type_duration(self):
        self.refused('site: { name = "t"; };\n'
                     'devices = ( {\n'
                     '\tname = "a";\n'
                     '\tinterval = "soon";\n'
                     '\treplay = { scenario = "ok.replay"; };\n'
                     '} );\n',
                     self.p("sonae.conf") + ":4", "devices[0].interval",
                     '"soon" is not a duration')

    def test_out_of_range(self):
        self.refused('site: { name = "t"; };\n'
                     'devices = ( {\n'
                     '\tname = "a";\n'
                     '\treplay = { scenario = "ok.replay"; };\n'
                     '\tstale_after = 101;\n'
                     '} );\n',
                     self.p("sonae.conf") + ":5", "devices[0].stale_after",
                     "101 is above the maximum 100")

    def test_below_minimum(self):
        self.refused('site: { name = "t"; };\ncontrol: { max_line = 10; };\n',
                     self.p("sonae.conf") + ":2", "control.max_line",
                     "10 is below the minimum 256")

    def test_missing_required_key(self):
        self.refused('site: {\n\ttimezone = "UTC";\n};\n',
                     self.p("sonae.conf") + ":1", "site.name", "required but missing")

    def test_missing_required_probe_key(self):
        self.refused('site: { name = "t"; };\n'
                     'devices = ( {\n'
                     '\tname = "a";\n'
                     '\treplay = { speed = 2.0; };\n'
                     '} );\n',
                     self.p("sonae.conf") + ":4", "devices[0].replay.scenario",
                     "required but missing")

    def test_duplicate_device_name(self):
        conf = self.p("sonae.conf")
        self.refused('site: { name = "t"; };\n'
                     'devices = (\n'
                     '\t{ name = "a"; replay = { scenario = "ok.replay"; }; },\n'
                     '\t{ name = "b"; replay = { scenario = "ok.replay"; }; },\n'
                     '\t{ name = "a"; replay = { scenario = "ok.replay"; }; }\n'
                     ');\n',
                     conf + ":5", "devices[2].name",
                     '"a" is already used at %s:3' % conf)

    def test_bad_scenario_line(self):
        bad = "unit temp degC\n0   temp=20\n# a comment\n2s  temp=hot\nend 3s\n"
        msg = self.refused('site: { name = "t"; };\n'
                           'devices = ( {\n'
                           '\tname = "a";\n'
                           '\treplay = {\n'
                           '\t\tscenario = "bad.replay";\n'
                           '\t};\n'
                           '} );\n',
                           self.p("sonae.conf") + ":5", "devices[0].replay.scenario",
                           "%s:4: expected a value" % self.p("bad.replay"),
                           files={"bad.replay": bad})
        self.assertIn(self.p("bad.replay") + ":4:", msg)

    def test_missing_scenario_file(self):
        self.refused('site: { name = "t"; };\n'
                     'devices = ( { name = "a"; replay = { scenario = "nowhere.replay"; }; } );\n',
                     self.p("sonae.conf") + ":2", "devices[0].replay.scenario",
                     "scenario %s: No such file or directory" % self.p("nowhere.replay"))

    def test_syntax_error(self):
        conf = self.write("sonae.conf", 'site: { name = "t"; };\ncontrol: {\n\tmax_line = ;\n};\n')
        for r, tail in ((sonae("validate", conf), "%s: 1 error" % conf),
                        (run([SONAED, "-n", "-c", conf]), "%s: 1 error; not started" % conf)):
            self.assertEqual(r.rc, 1, r)
            self.assertEqual(r.err.splitlines(), ["%s:3: syntax error" % conf, tail], r)

    def test_error_in_included_file(self):
        inc = self.write("inc.conf", '# control settings\ncontrol: {\n\tmax_line = "x";\n};\n')
        self.refused('site: { name = "t"; };\n@include "inc.conf"\n',
                     inc + ":3", "control.max_line", "expected an integer")

    def test_error_in_included_file_in_a_subfolder(self):
        os.mkdir(self.p("conf.d"))
        inc = self.write("conf.d/devices.conf",
                         'devices = (\n'
                         '\t{\n'
                         '\t\tname = "a";\n'
                         '\t\treplay = { scenario = "../ok.replay"; };\n'
                         '\t\tavailability = 9;\n'
                         '\t}\n'
                         ');\n')
        self.refused('site: { name = "t"; };\n@include "conf.d/devices.conf"\n',
                     inc + ":5", "devices[0].availability", "9 is above the maximum 3")

    def test_syntax_error_in_included_file(self):
        inc = self.write("inc.conf", 'control: {\n\tmax_line = ;\n};\n')
        conf = self.write("sonae.conf", 'site: { name = "t"; };\n@include "inc.conf"\n')
        r = sonae("validate", conf)
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.err.splitlines(), ["%s:2: syntax error" % inc, "%s: 1 error" % conf])
        r = run([SONAED, "-n", "-c", conf])
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.err.splitlines(),
                         ["%s:2: syntax error" % inc, "%s: 1 error; not started" % conf])

    def test_missing_included_file(self):
        conf = self.write("sonae.conf", 'site: { name = "t"; };\n@include "nowhere.conf"\n')
        r = sonae("validate", conf)
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.err.splitlines(),
                         ["%s:2: cannot open include file" % conf, "%s: 1 error" % conf])
        r = run([SONAED, "-n", "-c", conf])
        self.assertEqual(r.rc, 1, r)

    def test_every_error_reported(self):
        """Errors are collected, not stopped at: three mistakes, three lines."""
        conf = self.write("sonae.conf", 'site: {\n\tname = "t";\n\tnmae = "x";\n};\n'
                                        'control: { max_line = 10; };\n'
                                        'store: { history = "x"; };\n')
        r = sonae("validate", conf)
        self.assertEqual(r.rc, 1, r)
        errs = r.err.splitlines()
        self.assertEqual(len(errs), 4, r)
        self.assertTrue(errs[0].startswith(conf + ":3: site.nmae: "), errs)
        self.assertTrue(errs[1].startswith(conf + ":5: control.max_line: "), errs)
        self.assertTrue(errs[2].startswith(conf + ":6: store.history: "), errs)
        self.assertEqual(errs[3], "%s: 3 errors" % conf)

    def test_valid_file(self):
        conf = self.write("sonae.conf",
                          'site: { name = "t"; };\n'
                          'daemon: { state_dir = "%s/state"; };\n'
                          'devices = (\n'
                          '\t{ name = "a"; replay = { scenario = "ok.replay"; }; },\n'
                          '\t{ name = "b"; interval = "500ms"; timeout = 0.2;\n'
                          '\t  replay = { scenario = "ok.replay"; speed = 2.0; }; }\n'
                          ');\n' % self.dir)
        r = sonae("validate", conf)
        self.assertEqual((r.rc, r.out, r.err), (0, "%s: ok\n" % conf, ""))
        r = sonae("--json", "validate", conf)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json, {"config": conf, "ok": True, "errors": [], "devices": 2})
        r = run([SONAED, "-n", "-c", conf])
        self.assertEqual((r.rc, r.out, r.err), (0, "%s: ok (2 devices)\n" % conf, ""))
        # -n only validates: nothing is created.
        self.assertFalse(os.path.exists(os.path.join(self.dir, "state")))

    def test_unreadable_file(self):
        conf = self.p("missing.conf")
        r = sonae("validate", conf)
        self.assertEqual(r.rc, 1, r)
        self.assertTrue(r.err.startswith("%s: cannot open: No such file or directory\n" % conf), r)
        r = run([SONAED, "-n", "-c", conf])
        self.assertEqual(r.rc, 1, r)

    def test_relative_path_in_included_file(self):
        """A relative path is taken from the folder of the file it is
        written in, also in an @included file in another folder."""
        sub = os.path.join(self.dir, "sub")
        os.mkdir(sub)
        with open(os.path.join(sub, "devs.replay"), "w") as f:
            f.write(SCENARIO)
        with open(os.path.join(sub, "devs.conf"), "w") as f:
            f.write('devices = ( { name = "a"; replay = { scenario = "devs.replay"; }; } );\n')
        conf = self.write("sonae.conf", 'site: { name = "t"; };\n@include "sub/devs.conf"\n')
        for cwd in ("/", self.dir, sub):
            with self.subTest(cwd=cwd):
                r = run([SONAE, "validate", conf], cwd=cwd)
                self.assertEqual((r.rc, r.err), (0, ""), r)
                r = run([SONAED, "-n", "-c", conf], cwd=cwd)
                self.assertEqual((r.rc, r.err), (0, ""), r)


class ValidateAgainstDaemon(unittest.TestCase):
    def test_validate_without_file_asks_the_daemon(self):
        site = Site(self)
        site.device("a", SCENARIO)
        text = site.write_config()
        site.start(write=False)

        r = site.sonae("validate")
        self.assertEqual((r.rc, r.out, r.err), (0, "%s: ok\n" % site.conf, ""))
        j = site.ok("validate")
        self.assertEqual(j, {"config": site.conf, "ok": True, "errors": []})

        # Break the daemon's file on disk (no reload): validate reports it.
        broken = text.replace('socket = ', 'max_clients = 0;\n\tsocket = ', 1)
        self.assertNotEqual(broken, text)
        site.write_config(broken)
        line = [n for n, l in enumerate(broken.splitlines(), 1) if "max_clients" in l][0]
        r = site.sonae("validate")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.out, "")
        self.assertEqual(r.err.splitlines(), [
            "%s:%d: control.max_clients: 0 is below the minimum 1" % (site.conf, line),
            "%s: 1 error" % site.conf])
        r = site.sonae("--json", "validate")
        self.assertEqual(r.rc, 1, r)
        self.assertIs(r.json["ok"], False)
        self.assertEqual(len(r.json["errors"]), 1)

        # Validating did not reload: the daemon runs on, nothing refused.
        st = site.status()
        self.assertIsNone(st["last_reload"])
        self.assertEqual(st["devices"]["total"], 1)
        self.assertEqual(site.stop(), 0)


class Examples(unittest.TestCase):
    def test_examples_in_etc_validate(self):
        etc = os.path.join(SONAE_SRC, "etc")
        skip = set()
        try:
            with open(os.path.join(etc, ".include-only")) as f:
                skip = {l.strip() for l in f if l.strip() and not l.startswith("#")}
        except FileNotFoundError:
            pass
        found = []
        for root, _, files in os.walk(etc):
            for name in sorted(files):
                if not name.endswith(".conf"):
                    continue
                path = os.path.join(root, name)
                if os.path.relpath(path, etc) in skip:
                    continue
                found.append(path)
        self.assertTrue(found, "no example configurations under %s" % etc)
        for path in found:
            with self.subTest(config=os.path.relpath(path, SONAE_SRC)):
                r = sonae("validate", path)
                self.assertEqual((r.rc, r.err), (0, ""), r)
                self.assertEqual(r.out, "%s: ok\n" % path)
                r = run([SONAED, "-n", "-c", path])
                self.assertEqual(r.rc, 0, r)
                self.assertRegex(r.out, r"^%s: ok \(\d+ devices\)\n$" % re.escape(path))


if __name__ == "__main__":
    unittest.main()
