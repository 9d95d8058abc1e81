"""
Who may do what through the control socket, and the daemon's own privileges.

- The socket is mode 0660 with control.group.
- A caller outside the operators group (nobody) may read (status) but not
  change state (reload, poll); the refusal is logged.  root may.
- With control.operators_group naming the caller's group, nobody may.
- With daemon.user, sonaed drops root for good after binding the socket: its
  uids are all that user's, the journal belongs to it, and it still serves.
"""
import os
import pwd
import grp
import shutil
import stat
import unittest

from harness import Site, wait_until

SCENARIO = """\
unit temp degC
0    temp=20.5
end  10s
"""

NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrnam("nogroup")


def setUpModule():
    # A failure, not a skip: ctest would count a skipped module as passed.
    if os.geteuid() != 0:
        raise RuntimeError("test_permissions needs root (to run sonae as nobody)")
    if shutil.which("setpriv") is None:
        raise RuntimeError("test_permissions needs setpriv (util-linux)")


class Readers(unittest.TestCase):
    def setUp(self):
        self.site = Site(self)
        self.site.control["group"] = "nogroup"
        self.site.device("ups", SCENARIO)

    def test_socket_mode_and_group(self):
        self.site.start()
        st = os.stat(self.site.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual(st.st_gid, NOGROUP.gr_gid)
        self.assertEqual(st.st_uid, 0)
        self.assertEqual(self.site.stop(), 0)

    def test_reader_may_read_but_not_change(self):
        site = self.site
        site.start()
        wait_until(lambda: site.status()["devices"]["ok"] == 1, what="the device ok")

        r = site.sonae("--json", "status", user="nobody")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json["caller"], {"actor": "nobody(65534)", "operator": False})
        for args in (("devices",), ("device", "ups"), ("audit",), ("validate",)):
            with self.subTest(args=args):
                r = site.sonae(*args, user="nobody")
                self.assertEqual(r.rc, 0, r)

        seq = site.status()["audit"]["seq"]
        for verb, args in (("reload", ()), ("poll", ("ups",))):
            with self.subTest(verb=verb):
                r = site.sonae(verb, *args, user="nobody")
                self.assertEqual(r.rc, 1, r)
                self.assertEqual(r.out, "")
                self.assertEqual(r.err, "sonae: %s: only operators may do this "
                                        "(you are nobody(65534))\n" % verb)
                self.assertIn('control: nobody(65534) refused "%s": not an operator' % verb,
                              site.log_text())
        # Nothing happened: no reload, nothing journaled.
        st = site.status()
        self.assertIsNone(st["last_reload"])
        self.assertEqual(st["audit"]["seq"], seq)

        # root may.
        r = site.sonae("poll", "ups")
        self.assertEqual((r.rc, r.out), (0, "polling\n"), r)
        r = site.sonae("reload")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(site.status()["last_reload"]["actor"], "root(0)")
        self.assertEqual(site.stop(), 0)

    def test_others_cannot_connect(self):
        """Without control.group the socket belongs to root's group: nobody
        cannot even connect."""
        del self.site.control["group"]
        self.site.start()
        self.assertEqual(os.stat(self.site.sock).st_gid, 0)
        r = self.site.sonae("status", user="nobody")
        self.assertEqual(r.rc, 1, r)
        self.assertRegex(r.err, r"^sonae: cannot reach sonaed at .*: Permission denied\n$")
        self.assertEqual(self.site.stop(), 0)

    def test_operators_group(self):
        site = self.site
        site.control["operators_group"] = "nogroup"
        site.start()
        r = site.sonae("--json", "status", user="nobody")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json["caller"], {"actor": "nobody(65534)", "operator": True})
        wait_until(lambda: site.status()["devices"]["ok"] == 1, what="the device ok")
        polls = site.dev("ups")["polls"]
        r = site.sonae("poll", "ups", user="nobody")
        self.assertEqual((r.rc, r.out, r.err), (0, "polling\n", ""))
        wait_until(lambda: site.dev("ups")["polls"] > polls, what="the poll nobody asked for")
        r = site.sonae("reload", user="nobody")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(site.status()["last_reload"]["actor"], "nobody(65534)")
        e = [x for x in site.journal() if x["action"] == "config.reload"]
        self.assertEqual([x["actor"] for x in e], ["nobody(65534)"])
        self.assertNotIn("not an operator", site.log_text())
        self.assertEqual(site.stop(), 0)


class PrivilegeDrop(unittest.TestCase):
    def run_as_nobody(self, precreate):
        site = Site(self)
        site.daemon.update({"user": "nobody", "snapshot_interval": 1})
        site.control["group"] = "nogroup"
        site.device("ups", SCENARIO)
        if precreate:
            os.mkdir(site.state_dir, 0o750)
            os.chown(site.state_dir, NOBODY.pw_uid, NOBODY.pw_gid)
        site.start()

        with open("/proc/%d/status" % site.pid) as f:
            fields = dict(l.split(":", 1) for l in f if ":" in l)
        self.assertEqual(fields["Uid"].split(), [str(NOBODY.pw_uid)] * 4)
        self.assertEqual(fields["Gid"].split(), [str(NOBODY.pw_gid)] * 4)
        self.assertIn("running as nobody", site.log_text())

        st = os.stat(site.state_dir)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)),
                         (NOBODY.pw_uid, 0o750))
        jst = os.stat(site.journal_path)
        self.assertEqual((jst.st_uid, jst.st_gid), (NOBODY.pw_uid, NOBODY.pw_gid))
        self.assertEqual(stat.S_IMODE(jst.st_mode), 0o640)

        # It serves root, and nobody (its own user, hence an operator).
        wait_until(lambda: site.status()["devices"]["ok"] == 1, what="the device ok")
        r = site.sonae("--json", "status", user="nobody")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json["caller"], {"actor": "nobody(65534)", "operator": True})
        # It can still write its journal and snapshot.
        self.assertIs(site.ok("audit", "verify")["ok"], True)
        wait_until(lambda: os.path.exists(site.snapshot_path), what="state.json")
        self.assertEqual(os.stat(site.snapshot_path).st_uid, NOBODY.pw_uid)
        # A reload re-reads the file as nobody.
        self.assertIs(site.ok("reload")["ok"], True)
        self.assertEqual(site.stop(), 0)
        self.assertEqual(site.journal()[-1]["action"], "daemon.stop")

    def test_drop_to_nobody_creating_state_dir(self):
        self.run_as_nobody(precreate=False)

    def test_drop_to_nobody_with_state_dir(self):
        self.run_as_nobody(precreate=True)

    def test_unknown_user_refused(self):
        site = Site(self)
        site.daemon["user"] = "no-such-user-here"
        site.device("ups", SCENARIO)
        site.start(wait=False)
        self.assertEqual(site.proc.wait(10), 1)
        self.assertIn('daemon.user: no user "no-such-user-here" on this host', site.log_text())
        self.assertFalse(os.path.exists(site.sock))


if __name__ == "__main__":
    unittest.main()
