"""
What the benchmark scripts share: reading a process's CPU time and memory
from /proc, and one kept connection to sonaed's control socket (stdlib only,
for Debian's /usr/bin/python3).
"""
import json
import os
import socket


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
