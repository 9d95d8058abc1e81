"""
What the benchmark scripts share: reading a process's CPU time and memory
from /proc, and one kept connection to sonaed's control socket (stdlib only,
for Debian's /usr/bin/python3).
"""
import json
import os
import socket
import subprocess
import sys
import time


def proc_status(pid):
    """VmRSS, VmHWM (kB) and Threads of pid, from /proc/PID/status."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


def cpu_seconds(pid):
    """utime + stime of pid (all threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def recv_line(s, buf):
    """One line from socket s, with what was read beyond it."""
    while b"\n" not in buf:
        chunk = s.recv(1 << 16)
        if not chunk:
            raise RuntimeError("sonaed closed the connection")
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    return line, rest


class Control:
    """One kept connection to sonaed's control socket."""

    def __init__(self, sock):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(sock)
        self.s.sendall(b"HELLO 1\n")
        self.buf = b""
        head, self.buf = recv_line(self.s, self.buf)
        if not head.startswith(b"0 "):
            raise RuntimeError("HELLO answered %r" % head)

    def call(self, req):
        """A request answered with one JSON line, as a Python object."""
        self.s.sendall(req.encode() + b"\n")
        head, self.buf = recv_line(self.s, self.buf)
        if int(head.split(b" ", 1)[0]) != 1:
            raise RuntimeError("%s answered %r" % (req, head))
        body, self.buf = recv_line(self.s, self.buf)
        return json.loads(body)

    def close(self):
        self.s.close()


def start_sonaed(sonaed, conf, sock, log, name, control, pending_s):
    """Start `sonaed -f -c conf` (output to the open file log), wait for its
    socket, then until no device is pending (at most pending_s seconds).
    Returns (process, a control connection of class control, seconds from
    start until every device had polled, VmRSS in kB right after start).
    Exits with a message naming the benchmark on failure; the caller stops
    the process."""
    p = subprocess.Popen([sonaed, "-f", "-c", conf], stdout=log, stderr=log)
    t0 = time.monotonic()
    while not os.path.exists(sock):
        if p.poll() is not None or time.monotonic() - t0 > 30:
            p.kill()
            sys.exit("%s: sonaed did not start (log: %s)" % (name, log.name))
        time.sleep(0.05)
    time.sleep(0.1)
    ctl = control(sock)
    rss_start = proc_status(p.pid)["VmRSS"]
    while True:
        st = ctl.call("status")
        if st["devices"]["pending"] == 0:
            return p, ctl, time.monotonic() - t0, rss_start
        if time.monotonic() - t0 > pending_s:
            p.kill()
            sys.exit("%s: devices still pending after %d s: %s"
                     % (name, pending_s, st["devices"]))
        time.sleep(0.2)
