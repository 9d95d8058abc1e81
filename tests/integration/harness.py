"""
Shared helpers for the sonae integration tests: a private site (folder,
configuration, replay scenarios), the sonaed process, the sonae CLI, raw
connections to the control socket and the audit journal.

Every test module imports this; ctest runs each test_*.py with SONAED, SONAE
and SONAE_SRC in the environment (tests/integration/CMakeLists.txt).  Only the
standard library is used.

Rules the helpers keep:
- nothing waits with a fixed sleep: wait_until() polls a condition against a
  deadline and fails with the last value it saw;
- every process a test starts is stopped by its PID, every folder removed
  (unittest cleanups), even when the test fails;
- the binaries are built with ASan and UBSan: a daemon or CLI whose stderr
  shows a sanitizer report fails the test.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest
import time


def _env(var):
    value = os.environ.get(var)
    if not value:
        raise RuntimeError(
            "%s is not set: run the integration tests through ctest "
            "(or set SONAED, SONAE and SONAE_SRC)" % var)
    return value


SONAED = _env("SONAED")
SONAE = _env("SONAE")
SONAE_SRC = _env("SONAE_SRC")

SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer")

# Exit codes of the sonae CLI.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Reply status of the control protocol (monitor/monitor.h).
ST_FAILED, ST_USAGE, ST_DENIED, ST_PROTOCOL = -1, -2, -3, -4


def wait_until(pred, timeout=10.0, interval=0.05, what=None):
    """Call pred() until it returns something true; return that value.

    Fails (AssertionError) after timeout seconds, naming what was awaited and
    the last value pred() returned."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %gs waiting for %s (last: %r)" %
                                 (timeout, what or getattr(pred, "__name__", "condition"),
                                  last))
        time.sleep(interval)


def wait_for(get, cond, timeout=10.0, interval=0.05, what=None):
    """Call get() until cond(value) holds; return that value."""
    box = []

    def pred():
        box[:] = [get()]
        return cond(box[0])
    try:
        wait_until(pred, timeout, interval, what)
    except AssertionError as e:
        raise AssertionError("%s; last value: %r" % (e, box[0] if box else None)) from None
    return box[0]


def sanitizer_report(text):
    """The first sanitizer mark found in text, or None."""
    for mark in SANITIZER_MARKS:
        if mark in text:
            return mark
    return None


# --- libconfig text -------------------------------------------------------

class Raw(str):
    """A value written into the configuration as it is."""


def cfg_value(v, indent=0):
    pad = "\t" * (indent + 1)
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, dict):
        lines = ["{"]
        for k, x in v.items():
            lines.append("%s%s = %s;" % (pad, k, cfg_value(x, indent + 1)))
        lines.append("\t" * indent + "}")
        return "\n".join(lines)
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, dict) for x in v):
            items = [pad + cfg_value(x, indent + 1) for x in v]
            return "(\n" + ",\n".join(items) + "\n" + "\t" * indent + ")"
        return "[" + ", ".join(cfg_value(x, indent) for x in v) + "]"
    raise TypeError("cannot write %r into a configuration" % (v,))


def line_of(text, needle, start=1):
    """1-based number of the first line of text (from line start) holding needle."""
    for n, line in enumerate(text.splitlines(), 1):
        if n >= start and needle in line:
            return n
    raise AssertionError("%r is not in the text" % needle)


# --- the audit journal ------------------------------------------------------

GENESIS = "0" * 64


def audit_entry_line(seq, when, actor, action, detail, prev):
    """One journal line as audit.c writes it (hash over the line without hash)."""
    body = json.dumps({"seq": seq, "time": when, "actor": actor, "action": action,
                       "detail": detail, "prev": prev}, separators=(",", ":"))
    digest = hashlib.sha256(body.encode()).hexdigest()
    return body[:-1] + ',"hash":"%s"}' % digest, digest


# --- the CLI ------------------------------------------------------------------

class Result:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    @property
    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError("%s: output is not JSON (%s):\n%s" %
                                 (" ".join(self.argv), e, self.out))

    def __repr__(self):
        return "Result(rc=%d, out=%r, err=%r)" % (self.rc, self.out[-2000:], self.err[-2000:])


AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def run(argv, user=None, timeout=60, env=None, cwd=None):
    """Run a command; returns Result.  user="nobody" runs it through setpriv."""
    if user is not None:
        if user != "nobody":
            raise ValueError("only nobody is supported")
        if shutil.which("setpriv") is None:
            raise AssertionError("setpriv (util-linux) is not installed")
        argv = AS_NOBODY + list(argv)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, env=env, cwd=cwd)
    r = Result(list(argv), p.returncode, p.stdout.decode("utf-8", "replace"),
               p.stderr.decode("utf-8", "replace"))
    mark = sanitizer_report(r.err)
    if mark is not None:
        raise AssertionError("%s: sanitizer report (%s) on stderr:\n%s" %
                             (" ".join(argv), mark, r.err))
    return r


def sonae(*args, **kw):
    return run([SONAE] + [str(a) for a in args], **kw)


# --- raw connections to the control socket ----------------------------------

class Conn:
    """A raw client of the control socket, for protocol tests."""

    def __init__(self, path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.eof = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def shut_wr(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _fill(self, deadline):
        if self.eof:
            return False
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            # A UNIX socket closed with unread input reports ECONNRESET once
            # everything queued for us was read: the daemon closed it.
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def line(self, timeout=5.0):
        """The next line (without the newline), or None at end of input.
        Fails on timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.eof:
                return None
            if time.monotonic() >= deadline:
                raise AssertionError("no complete line from sonaed within %gs (have %r)" %
                                     (timeout, self.buf))
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self, timeout=5.0):
        """(status, text) of the next status line; fails at end of input."""
        line = self.line(timeout)
        if line is None:
            raise AssertionError("sonaed closed the connection without a reply")
        m = re.match(r"^(-?\d+) (.*)$", line)
        if m is None:
            raise AssertionError("not a status line: %r" % line)
        return int(m.group(1)), m.group(2)

    def hello(self):
        st, text = self.reply_to("HELLO 1")
        if st != 0:
            raise AssertionError("HELLO refused: %d %s" % (st, text))
        return text

    def reply_to(self, request, timeout=5.0):
        self.send(request + "\n")
        return self.reply(timeout)

    def request(self, request, timeout=5.0):
        """Send a request; returns (status, text, JSON body or None)."""
        st, text = self.reply_to(request, timeout)
        body = None
        if st >= 1:
            raw = self.line(timeout)
            if raw is None:
                raise AssertionError("status %d announced a body that never came" % st)
            body = json.loads(raw)
        return st, text, body

    def closed(self, timeout=5.0):
        """True once sonaed has closed the connection (all input read and
        discarded), False if it is still open after timeout."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self.buf = b""
            self._fill(deadline)
        return self.eof

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- a site: folder, configuration, daemon ----------------------------------

class Site:
    """A private site in a temporary folder, with its own sonaed."""

    def __init__(self, test, name="integration test site"):
        """test: the TestCase whose cleanups stop the daemon and remove the
        folder, or a TestCase class (from setUpClass: class cleanups)."""
        self.test = test
        self.dir = tempfile.mkdtemp(prefix="sonae-it-")
        os.chmod(self.dir, 0o755)  # other uids (nobody) must reach the socket
        self.name = name
        self.conf = self.path("sonae.conf")
        self.sock = self.path("sonae.sock")
        self.state_dir = self.path("state")
        self.daemon = {"state_dir": self.state_dir}
        self.control = {"socket": self.sock}
        self.store = {}
        self.devices = []
        self.rules = []
        self.checks = []
        self.maintenance = []
        self.observer = None
        self.mail = None        # the mail group, a dict
        self.channels = []
        self.routes = []
        self.playbooks = None   # the playbooks group, a dict
        self.proc = None
        self.logs = []      # one stderr file per start
        self.env = None
        if isinstance(test, type):
            test.addClassCleanup(self.cleanup)
        else:
            test.addCleanup(self.cleanup)

    # files

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write(self, name, text, mode=None):
        """Write a file in the site folder; the path stays the same inode
        only if the file did not exist (use rewrite() for that)."""
        p = self.path(name)
        tmp = p + ".tmp-write"
        with open(tmp, "w") as f:
            f.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, p)
        return p

    def scenario(self, name, text):
        """Write a replay scenario NAME.replay; returns its path."""
        return self.write(name + ".replay", text)

    def device(self, name, scenario_text=None, scenario=None, replay=None, **keys):
        """Add a replay device (short polling by default); returns its dict.

        scenario_text writes NAME.replay; scenario names an existing file."""
        if scenario_text is not None:
            scenario = self.scenario(name, scenario_text)
        d = {"name": name, "interval": 0.2, "timeout": 0.1}
        d.update(keys)
        r = {"scenario": scenario}
        r.update(replay or {})
        d["replay"] = r
        self.devices.append(d)
        return d

    def config_text(self):
        parts = ["# written by tests/integration/harness.py",
                 "site: " + cfg_value({"name": self.name}) + ";",
                 "daemon: " + cfg_value(self.daemon) + ";",
                 "control: " + cfg_value(self.control) + ";"]
        if self.store:
            parts.append("store: " + cfg_value(self.store) + ";")
        if self.devices:
            parts.append("devices = " + cfg_value(self.devices) + ";")
        for key in ("rules", "checks", "maintenance"):
            if getattr(self, key):
                parts.append(key + " = " + cfg_value(getattr(self, key)) + ";")
        if self.observer is not None:
            parts.append("observer: " + cfg_value(self.observer) + ";")
        if self.mail is not None:
            parts.append("mail: " + cfg_value(self.mail) + ";")
        for key in ("channels", "routes"):
            if getattr(self, key):
                parts.append(key + " = " + cfg_value(getattr(self, key)) + ";")
        if self.playbooks is not None:
            parts.append("playbooks: " + cfg_value(self.playbooks) + ";")
        return "\n".join(parts) + "\n"

    def playbook(self, name, text):
        """Write playbooks/NAME.conf in the site folder and point playbooks.dir
        at that folder; returns the file's path."""
        os.makedirs(self.path("playbooks"), exist_ok=True)
        if self.playbooks is None:
            self.playbooks = {}
        self.playbooks["dir"] = self.path("playbooks")
        return self.write(os.path.join("playbooks", name + ".conf"), text)

    def write_config(self, text=None):
        """Write the configuration (the generated one unless text is given);
        returns the text."""
        if text is None:
            text = self.config_text()
        self.write(os.path.basename(self.conf), text)
        return text

    # the daemon

    def start(self, write=True, wait=True, timeout=20.0):
        """Start sonaed -f -c CONF and wait until `sonae status` answers."""
        if self.proc is not None and self.proc.poll() is None:
            raise AssertionError("sonaed is running already")
        if write:
            self.write_config()
        log = self.path("sonaed-%d.log" % (len(self.logs) + 1))
        self.logs.append(log)
        with open(log, "wb") as f:
            self.proc = subprocess.Popen([SONAED, "-f", "-c", self.conf],
                                         stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                         env=self.env, start_new_session=True)
        if wait:
            self.wait_ready(timeout)
        return self.proc

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=20.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("sonaed exited with %d before it answered:\n%s" %
                                     (self.proc.returncode, self.log_text()))
            return self.sonae("status").rc == 0
        wait_until(ready, timeout, interval=0.05, what="sonaed to answer `sonae status`")

    def log_text(self, which=None):
        """Everything sonaed wrote to stderr (all starts, or start number which)."""
        out = []
        for n, log in enumerate(self.logs, 1):
            if which is not None and n != which:
                continue
            try:
                with open(log, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except FileNotFoundError:
                pass
        return "".join(out)

    def check_logs(self):
        text = self.log_text()
        mark = sanitizer_report(text)
        if mark is not None:
            raise AssertionError("sonaed's stderr holds a sanitizer report (%s):\n%s" %
                                 (mark, text[-20000:]))

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, timeout=10.0):
        """SIGTERM, wait, SIGKILL if it hangs (a failure); check the logs for
        sanitizer reports.  Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("sonaed did not exit within %gs of SIGTERM:\n%s" %
                                     (timeout, self.log_text()))
        self.check_logs()
        return self.proc.returncode

    def kill9(self):
        """kill -9, as a crash: no chance to clean up."""
        self.proc.kill()
        self.proc.wait()
        self.check_logs()

    def cleanup(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.stop()
            elif self.proc is not None:
                self.check_logs()
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(self.dir, ignore_errors=True)

    # talking to it

    def sonae(self, *args, **kw):
        return sonae("-s", self.sock, *args, **kw)

    def ok(self, *args, **kw):
        """Run `sonae --json ARGS`, assert exit 0, return the parsed output."""
        r = self.sonae("--json", *args, **kw)
        if r.rc != 0:
            raise AssertionError("sonae %s: exit %d: %s" % (" ".join(map(str, args)), r.rc,
                                                           r.err.strip()))
        return r.json

    def incidents(self, all=False):
        """`sonae --json incidents [--all]`: the list."""
        return self.ok("incidents", *(["--all"] if all else []))["incidents"]

    def incident(self, rule=None, id=None):
        """The open incident of rule (or incident id) in full, or None."""
        if id is None:
            ids = [i["id"] for i in self.incidents() if i["rule"] == rule]
            if not ids:
                return None
            id = ids[0]
        return self.ok("incident", str(id))

    def detectors(self):
        """`sonae --json checks --all`: every detector by name."""
        return {x["name"]: x for x in self.ok("checks", "--all")["detectors"]}

    def status(self):
        return self.ok("status")

    def dev(self, name):
        return self.ok("device", name)

    def metrics(self, name):
        """{metric: metric JSON} of a device."""
        return {m["name"]: m for m in self.dev(name)["metrics"]}

    def connect(self, test=None, timeout=5.0):
        """A raw connection, closed when test (default: the site's) ends."""
        c = Conn(self.sock, timeout)
        test = test or self.test
        (test.addClassCleanup if isinstance(test, type) else test.addCleanup)(c.close)
        return c

    # state_dir

    @property
    def journal_path(self):
        return os.path.join(self.state_dir, "audit.jsonl")

    @property
    def snapshot_path(self):
        return os.path.join(self.state_dir, "state.json")

    def journal_lines(self):
        with open(self.journal_path, "rb") as f:
            return f.read().split(b"\n")[:-1]

    def journal(self):
        return [json.loads(x) for x in self.journal_lines()]

    def rewrite_journal(self, lines):
        """Replace the journal's content in place (same inode: sonaed keeps
        appending to the file it has open)."""
        data = b"".join(x + b"\n" for x in lines)
        with open(self.journal_path, "r+b") as f:
            f.seek(0)
            f.write(data)
            f.truncate()


# --- SMTP peers (aiosmtpd) ----------------------------------------------------

def free_tcp_port():
    """An unprivileged TCP port on 127.0.0.1 that nothing listens on now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def self_signed(folder):
    """A self-signed certificate for 127.0.0.1: (cert.pem, key.pem) in folder."""
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    if not os.path.exists(cert):
        subprocess.run([_tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class SmtpSink:
    """A mail relay on 127.0.0.1: aiosmtpd, every accepted mail a file in a
    Maildir (tests/integration/smtp_server.py; plain by default, STARTTLS and
    AUTH with tls=True).  stop() and start() again to make the relay go away
    and come back; the Maildir stays."""

    SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smtp_server.py")

    def __init__(self, test, folder=None, tls=False, user=None, password=None, extra=()):
        if folder is None:
            folder = tempfile.mkdtemp(prefix="sonae-smtp-")
            test.addCleanup(shutil.rmtree, folder, True)
        self.folder = folder
        self.maildir = os.path.join(folder, "Maildir")
        self.port = free_tcp_port()
        self.tls, self.user, self.password, self.extra = tls, user, password, list(extra)
        self.proc = None
        test.addCleanup(self.stop)

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def start(self, timeout=20.0):
        argv = ["/usr/bin/python3", self.SERVER, "--maildir", self.maildir,
                "--port", str(self.port)] + self.extra
        if self.tls:
            cert, key = self_signed(self.folder)
            argv += ["--cert", cert, "--key", key, "--user", self.user,
                     "--password", self.password]
        else:
            argv.append("--plain")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready"):
            raise AssertionError("smtp_server.py did not start: %r" % line)
        return self

    def stop(self):
        _stop_pid(self.proc)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def files(self):
        new = os.path.join(self.maildir, "new")
        try:
            names = os.listdir(new)
        except FileNotFoundError:
            return []
        paths = [os.path.join(new, n) for n in names]
        # Maildir names start with the delivery time; mtime breaks no ties.
        return sorted(paths, key=lambda p: (os.stat(p).st_mtime_ns, p))

    def messages(self):
        """Every mail received, in arrival order, as email.message objects."""
        import email
        import email.policy
        out = []
        for p in self.files():
            with open(p, "rb") as f:
                out.append(email.message_from_binary_file(f, policy=email.policy.default))
        return out

    def wait(self, n, timeout=20.0):
        """Wait until n mails arrived; return them all."""
        return wait_until(lambda: len(self.files()) >= n and self.messages(), timeout,
                          what="%d mails at the sink" % n)


# --- SNMP peers (snmpsim, snmpd) --------------------------------------------

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def free_udp_port():
    """An unprivileged UDP port on 127.0.0.1 that nothing listens on now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _tool(name):
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise AssertionError("%s is not installed (scripts/setup.sh installs it)" % name)
    return path


def _stop_pid(proc, timeout=10.0):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class UdpAgent:
    """An SNMP agent on 127.0.0.1 and self.port: its address as sonae's
    configuration and net-snmp's tools write it."""

    @property
    def address(self):
        return "udp:127.0.0.1:%d" % self.port

    @property
    def peer(self):
        return "127.0.0.1:%d" % self.port


class Snmpsim(UdpAgent):
    """One snmpsimd (one simulated device) on 127.0.0.1 and a free port,
    serving the given *.snmprec files from folder source (default
    tests/integration/data); each file's name is its community.  variation:
    a folder of snmpsim variation modules (*.py) to load as well.  Everything
    is copied to a private folder snmpsimd can read after it dropped to
    nobody.  Stopped by PID when the test ends."""

    def __init__(self, test, *recs, source=None, variation=None):
        self.test = test
        self.recs = recs
        self.dir = tempfile.mkdtemp(prefix="sonae-snmpsim-")
        os.chmod(self.dir, 0o755)
        os.mkdir(os.path.join(self.dir, "data"))
        os.mkdir(os.path.join(self.dir, "cache"))
        os.chmod(os.path.join(self.dir, "data"), 0o755)
        os.chmod(os.path.join(self.dir, "cache"), 0o777)  # nobody writes it
        for r in recs:
            shutil.copy(os.path.join(source or DATA, r + ".snmprec"),
                        os.path.join(self.dir, "data", r + ".snmprec"))
            os.chmod(os.path.join(self.dir, "data", r + ".snmprec"), 0o644)
        self.variation = None
        if variation is not None:
            self.variation = os.path.join(self.dir, "variation")
            os.mkdir(self.variation)
            os.chmod(self.variation, 0o755)
            for f in os.listdir(variation):
                if f.endswith(".py"):
                    shutil.copy(os.path.join(variation, f), self.variation)
                    os.chmod(os.path.join(self.variation, f), 0o644)
        self.port = free_udp_port()
        self.proc = None
        (test.addClassCleanup if isinstance(test, type) else test.addCleanup)(self.cleanup)

    def start(self, timeout=20.0):
        argv = [_tool("snmpsimd"), "--data-dir=" + os.path.join(self.dir, "data"),
                "--cache-dir=" + os.path.join(self.dir, "cache"),
                "--agent-udpv4-endpoint=" + self.peer, "--logging-method=null"]
        if self.variation is not None:
            argv.append("--variation-modules-dir=" + self.variation)
        if os.geteuid() == 0:
            argv += ["--process-user=nobody", "--process-group=nogroup"]
        with open(os.path.join(self.dir, "snmpsimd.log"), "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("snmpsimd exited with %d" % self.proc.returncode)
            return run([_tool("snmpgetnext"), "-v2c", "-c", self.recs[0], "-r0",
                        "-t0.3", self.peer, "1.3"]).rc == 0
        wait_until(ready, timeout, interval=0.1, what="snmpsimd to answer")
        return self

    def stop(self):
        _stop_pid(self.proc)
        self.proc = None

    def replace(self, rec, source):
        """While stopped: serve tests/integration/data/<source>.snmprec as
        community rec from the next start (another device on the same port)."""
        assert self.proc is None, "stop snmpsimd first"
        dst = os.path.join(self.dir, "data", rec + ".snmprec")
        shutil.copy(os.path.join(DATA, source + ".snmprec"), dst)
        os.chmod(dst, 0o644)
        cache = os.path.join(self.dir, "cache")
        for f in os.listdir(cache):
            p = os.path.join(cache, f)
            (shutil.rmtree if os.path.isdir(p) else os.remove)(p)

    def get(self, community, oid):
        r = run([_tool("snmpget"), "-v2c", "-c", community, "-r1", "-t1", "-Oqv",
                 self.peer, oid], env=dict(os.environ, MIBS=""))
        return r.out.strip() if r.rc == 0 else None

    def set(self, community, oid, typ, value, reads=None):
        """snmpset, then read the value back (snmpset exits 0 when refused);
        reads: how snmpget shows it when not as value (TimeTicks)."""
        run([_tool("snmpset"), "-v2c", "-c", community, "-r1", "-t1", self.peer,
             oid, typ, str(value)], env=dict(os.environ, MIBS=""))
        got = self.get(community, oid)
        if got != (str(value) if reads is None else reads):
            raise AssertionError("snmpset %s %s=%s did not take (reads %r)" %
                                 (community, oid, value, got))

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class Snmpd(UdpAgent):
    """net-snmp's snmpd on 127.0.0.1 and a free port with a private
    configuration (conf_lines: createUser, rouser, override ...), its
    persistent state in its own folder.  Stopped by PID."""

    def __init__(self, test, conf_lines):
        self.test = test
        self.dir = tempfile.mkdtemp(prefix="sonae-snmpd-")
        self.port = free_udp_port()
        self.conf = os.path.join(self.dir, "snmpd.conf")
        with open(self.conf, "w") as f:
            f.write("dontLogTCPWrappersConnects yes\n" + "\n".join(conf_lines) + "\n")
        self.proc = None
        (test.addClassCleanup if isinstance(test, type) else test.addCleanup)(self.cleanup)

    def start(self, probe_args, timeout=20.0):
        """probe_args: snmpget options that must work once snmpd is ready."""
        self.probe_args = probe_args
        env = dict(os.environ, MIBS="",
                   SNMP_PERSISTENT_DIR=os.path.join(self.dir, "persist"))
        self.proc = subprocess.Popen(
            [_tool("snmpd"), "-f", "-Lf", os.path.join(self.dir, "snmpd.log"), "-C",
             "-c", self.conf, "-I", "-smux", "-p", os.path.join(self.dir, "snmpd.pid"),
             "udp:" + self.peer], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("snmpd exited with %d" % self.proc.returncode)
            return run([_tool("snmpget"), "-r0", "-t0.3"] + probe_args +
                       [self.peer, "1.3.6.1.2.1.1.3.0"], env=env).rc == 0
        wait_until(ready, timeout, interval=0.1, what="snmpd to answer")
        return self

    def stop(self, forget=False):
        """Stop snmpd; forget=True also removes its persistent state (engine
        boots, and the engine ID unless the configuration fixes it)."""
        _stop_pid(self.proc)
        self.proc = None
        if forget:
            shutil.rmtree(os.path.join(self.dir, "persist"), ignore_errors=True)

    def cleanup(self):
        try:
            _stop_pid(self.proc)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def snmp_device(site, name, snmp, **keys):
    """Add an snmp device to a Site (short polling by default); returns its dict."""
    d = {"name": name, "interval": 0.3, "timeout": 0.25, "retries": 0,
         "stale_after": 3, "backoff_max": 0.5}
    d.update(keys)
    d["snmp"] = snmp
    site.devices.append(d)
    return d


# --- SNMP traps (net-snmp's snmptrap) -----------------------------------------

class Snmptrap:
    """Debian's snmptrap, sending to a trap receiver on 127.0.0.1:port (so
    the trap's UDP source is 127.0.0.1).  Numeric OIDs only: MIBS is empty."""

    def __init__(self, port, community):
        self.port, self.community = port, community
        self.tmp = tempfile.mkdtemp(prefix="sonae-snmptrap-")
        self.env = dict(os.environ, MIBS="", SNMP_PERSISTENT_DIR=self.tmp,
                        SNMPCONFPATH=self.tmp)

    def _send(self, argv):
        r = run([_tool("snmptrap")] + argv, env=self.env)
        if r.rc != 0:
            raise AssertionError("snmptrap %s: exit %d: %s" % (" ".join(argv), r.rc,
                                                                r.err.strip()))
        return r

    def v2c(self, trap_oid, *varbinds, community=None, port=None):
        """An SNMPv2c trap; varbinds: (oid, type, value) as snmptrap takes them."""
        argv = ["-v2c", "-c", community or self.community,
                "127.0.0.1:%d" % (port or self.port), "", trap_oid]
        for o, t, v in varbinds:
            argv += [o, t, str(v)]
        return self._send(argv)

    def v1(self, enterprise, generic, specific, *varbinds, community=None, port=None,
           agent="127.0.0.1"):
        """An SNMPv1 trap (generic 0..5, or 6 with specific)."""
        argv = ["-v1", "-c", community or self.community,
                "127.0.0.1:%d" % (port or self.port), enterprise, agent, str(generic),
                str(specific), ""]
        for o, t, v in varbinds:
            argv += [o, t, str(v)]
        return self._send(argv)

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


class ModbusServer:
    """A Modbus sensor: tests/integration/modbus_server.py (pymodbus) on
    127.0.0.1 and a free TCP port (or on a serial line: serial=PATH), driven
    through its stdin.  units: None answers every unit id, else only those.
    silent=True accepts connections and never answers.  Stopped by PID; start()
    again serves the same port (with fresh, zeroed tables)."""

    FC = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}

    def __init__(self, test, units=None, silent=False, serial=None, port=None):
        self.units = units
        self.silent = silent
        self.serial = serial
        self.port = port or (None if serial else free_tcp_port())
        self.proc = None
        (test.addClassCleanup if isinstance(test, type) else test.addCleanup)(self.stop)

    @property
    def address(self):
        return "rtu:" + self.serial if self.serial else "tcp:127.0.0.1:%d" % self.port

    def start(self, timeout=20.0):
        argv = ["/usr/bin/python3", os.path.join(os.path.dirname(__file__),
                                                 "modbus_server.py")]
        argv += ["--serial", self.serial] if self.serial else ["--port", str(self.port)]
        if self.units:
            argv += ["--units", ",".join(str(u) for u in self.units)]
        if self.silent:
            argv.append("--silent")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        line = self.proc.stdout.readline()
        if line.strip() != "ready" or time.monotonic() > deadline:
            raise AssertionError("modbus_server.py did not start: %r" % line)
        return self

    def _cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().split()
        if not reply or reply[0] != "ok":
            raise AssertionError("modbus_server.py %r: %r" % (line, reply))
        return [int(v) for v in reply[1:]]

    def set(self, table, addr, *values, unit=0):
        """Set protocol addresses addr.. of table (coil, discrete, holding,
        input) to 16-bit register values or bits."""
        self._cmd("set %d %d %d %s" % (unit, self.FC[table], addr,
                                       " ".join(str(v) for v in values)))

    def get(self, table, addr, n=1, unit=0):
        return self._cmd("get %d %d %d %d" % (unit, self.FC[table], addr, n))

    def stop(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            _stop_pid(self.proc)
            self.proc.stdout.close()
        self.proc = None


def modbus_device(site, name, modbus, **keys):
    """Add a modbus device to a Site (short polling by default); returns its dict."""
    d = {"name": name, "interval": 0.3, "timeout": 0.25, "retries": 0,
         "stale_after": 3, "backoff_max": 0.5}
    d.update(keys)
    m = {"response_timeout": 0.2, "reconnect_max": 0.5}
    m.update(modbus)
    d["modbus"] = m
    site.devices.append(d)
    return d


class OneDaemon(unittest.TestCase):
    """One daemon for the whole class, with one replay device "ups" (a
    subclass may set control keys and the scenario); it must exit 0."""
    control = {}
    scenario = """\
unit temp degC
0    temp=20.5 up=true state="OL"
end  10s
"""

    @classmethod
    def setUpClass(cls):
        cls.site = Site(cls)
        cls.site.control.update(cls.control)
        cls.site.device("ups", cls.scenario)
        cls.site.start()
        wait_until(lambda: cls.site.status()["devices"]["ok"] == 1, what="the device ok")

    @classmethod
    def tearDownClass(cls):
        # (The class cleanup removes the folder, also when this fails.)
        rc = cls.site.stop()
        if rc != 0:
            raise AssertionError("sonaed exited with %r:\n%s" % (rc, cls.site.log_text()))
