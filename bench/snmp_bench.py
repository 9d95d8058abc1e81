#!/usr/bin/python3
"""SNMP polling against net-snmp snmpd on loopback: sonaed, then collectd's
snmp plugin, then a fork-per-check snmpget loop (see bench/README.md).

    snmp_bench.py --sonaed BIN --sonae BIN [--devices 1000] [--responders 4]
                  [--window 60] [--checks 200] [--dir DIR] [--json OUT]

1. Starts RESPONDERS snmpd processes on 127.0.0.1 (private configuration,
   foreground, no SMUX), stopped by their PIDs at the end.
2. sonaed with DEVICES snmp devices (generic profile, 6 numeric points, one
   6-varbind GET each every 5 s, round-robin over the responders).  Once no
   device is pending (each has polled once), WINDOW seconds: sonaed's CPU
   (utime+stime from /proc/PID/stat) over the window divided by the GET PDUs
   the responders received in it (snmpInGetRequests before and after); VmRSS,
   VmHWM; polls and failures from every device's counters (`device NAME`).
3. collectd -f with only the snmp plugin: one <Data> block of the same 6 OIDs
   (a 6-source type in a private types.db), DEVICES <Host> blocks with the same
   addresses, Interval 5.  After 2 intervals of warm-up, the same WINDOW, the
   same figures (failures: the responders' count against the expected polls,
   and the error lines of collectd's log).
4. CHECKS runs of `snmpget -v2c -c public -r0 -t1 127.0.0.1:PORT <6 OIDs>`,
   one process each: the children's CPU (os.times) per check.

The two monitors run one after the other, never at the same time.
Standard library only.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

OIDS = [
    "1.3.6.1.2.1.1.3.0",    # sysUpTime
    "1.3.6.1.2.1.25.1.1.0",  # hrSystemUptime
    "1.3.6.1.2.1.11.1.0",   # snmpInPkts
    "1.3.6.1.2.1.11.2.0",   # snmpOutPkts
    "1.3.6.1.2.1.11.15.0",  # snmpInGetRequests
    "1.3.6.1.2.1.11.28.0",  # snmpOutGetResponses
]
IN_GET_REQUESTS = "1.3.6.1.2.1.11.15.0"
INTERVAL_S = 5
TARGET_CPU_US = 30
TARGET_RSS_MB = 30
ENV = dict(os.environ, MIBS="")


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_udp_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def snmpget(port, oids, check=True):
    r = subprocess.run(["snmpget", "-On", "-Oqv", "-v2c", "-c", "public", "-r1", "-t1",
                        "127.0.0.1:%d" % port] + oids, capture_output=True, text=True,
                       env=ENV)
    if check and r.returncode != 0:
        raise RuntimeError("snmpget on port %d: %s" % (port, r.stderr.strip()))
    return r.stdout.split("\n")


def in_gets(ports):
    """GET PDUs received so far, summed over the responders."""
    return sum(int(snmpget(p, [IN_GET_REQUESTS])[0]) for p in ports)


class Responders:
    def __init__(self, d, n):
        self.d, self.ports, self.procs = d, free_udp_ports(n), []

    def start(self):
        for i, port in enumerate(self.ports):
            conf = os.path.join(self.d, "snmpd%d.conf" % i)
            with open(conf, "w") as f:
                f.write("rocommunity public 127.0.0.1\ndontLogTCPWrappersConnects yes\n")
            pidfile = os.path.join(self.d, "snmpd%d.pid" % i)
            p = subprocess.Popen(["/usr/sbin/snmpd", "-f", "-Lf",
                                  os.path.join(self.d, "snmpd%d.log" % i), "-C", "-c", conf,
                                  "-I", "-smux", "-p", pidfile, "udp:127.0.0.1:%d" % port],
                                 env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(p)
        for port in self.ports:
            t0 = time.monotonic()
            while True:
                try:
                    vals = snmpget(port, OIDS)
                    bad = [o for o, v in zip(OIDS, vals) if "No Such" in v]
                    if bad:
                        sys.exit("snmp_bench: snmpd serves no %s" % bad)
                    break
                except RuntimeError:
                    if time.monotonic() - t0 > 10:
                        raise
                    time.sleep(0.1)

    def cpu(self):
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def sonae_conf(d, n, ports):
    sock = os.path.join(d, "sonae.sock")
    pts = ", ".join('{ name = "p%d"; oid = "%s"; type = "number"; }' % (i + 1, o)
                    for i, o in enumerate(OIDS))
    out = ["# Generated by bench/snmp_bench.py: %d snmp devices, 6 points each." % n,
           'site: { name = "bench-snmp"; timezone = "UTC"; };',
           'daemon: { state_dir = "%s"; };' % os.path.join(d, "state"),
           'control: { socket = "%s"; };' % sock,
           "devices = ("]
    for i in range(n):
        out.append('\t{ name = "snmp%05d"; kind = "other"; interval = "%ds"; timeout = "2s"; '
                   'snmp = { address = "udp:127.0.0.1:%d"; version = "2c"; '
                   'community = "public"; profile = "generic"; points = ( %s ); }; }%s'
                   % (i + 1, INTERVAL_S, ports[i % len(ports)], pts,
                      "," if i + 1 < n else ""))
    out.append(");")
    path = os.path.join(d, "sonae.conf")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path, sock


def collectd_conf(d, n, ports):
    with open(os.path.join(d, "types.db"), "w") as f:
        f.write("bench6 %s\n" % ", ".join("v%d:GAUGE:U:U" % (i + 1) for i in range(6)))
    out = ['Hostname "bench"', "FQDNLookup false", 'BaseDir "%s"' % os.path.join(d, "collectd"),
           'PIDFile "%s"' % os.path.join(d, "collectd.pid"),
           'TypesDB "%s"' % os.path.join(d, "types.db"), "Interval %d" % INTERVAL_S,
           # No write plugin: values stop after collectd's value cache (no
           # "no write target" messages, no file I/O), as sonaed keeps them
           # in memory.
           'PostCacheChain "PostCache"', '<Chain "PostCache">', '  Target "stop"',
           "</Chain>", "", "LoadPlugin snmp", "<Plugin snmp>", '  <Data "bench">', '    Type "bench6"',
           "    Table false", '    TypeInstance ""',
           "    Values %s" % " ".join('"%s"' % o for o in OIDS), "  </Data>"]
    for i in range(n):
        out += ['  <Host "h%05d">' % (i + 1), '    Address "127.0.0.1:%d"' % ports[i % len(ports)],
                "    Version 2", '    Community "public"', '    Collect "bench"',
                "    Interval %d" % INTERVAL_S, "    Timeout 2", "    Retries 0", "  </Host>"]
    out.append("</Plugin>")
    os.makedirs(os.path.join(d, "collectd"), exist_ok=True)
    path = os.path.join(d, "collectd.conf")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path


def recv_line(s, buf):
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
        self.s.sendall(req.encode() + b"\n")
        head, self.buf = recv_line(self.s, self.buf)
        if int(head.split(b" ", 1)[0]) != 1:
            raise RuntimeError("%s answered %r" % (req, head))
        body, self.buf = recv_line(self.s, self.buf)
        return json.loads(body)

    def sweep(self, n):
        """polls and failures summed over every device."""
        polls = failures = 0
        for i in range(n):
            o = self.call("device snmp%05d" % (i + 1))
            polls += o["polls"]
            failures += o["failures"]
        return polls, failures

    def close(self):
        self.s.close()


def window(pid, ports, resp, seconds):
    """CPU of pid and of the responders, GETs at the responders, RSS over seconds."""
    g0, c0, r0, t0 = in_gets(ports), cpu_seconds(pid), resp.cpu(), time.monotonic()
    rss_max = 0
    while time.monotonic() - t0 < seconds:
        time.sleep(0.5)
        rss_max = max(rss_max, proc_status(pid)["VmRSS"])
    c1, r1, t1 = cpu_seconds(pid), resp.cpu(), time.monotonic()
    g1 = in_gets(ports)
    st = proc_status(pid)
    gets = g1 - g0 - len(ports)  # the `after` reading counts itself once per responder
    return {"cpu_s": c1 - c0, "window_s": t1 - t0, "gets": gets,
            "responders_cpu_s": r1 - r0, "rss_kb": st["VmRSS"], "hwm_kb": st["VmHWM"],
            "rss_max_sampled_kb": rss_max, "threads": st["Threads"],
            "cpu_us_per_poll": 1e6 * (c1 - c0) / max(gets, 1),
            "responder_us_per_get": 1e6 * (r1 - r0) / max(gets, 1)}


def run_sonaed(a, d, ports, resp):
    conf, sock = sonae_conf(d, a.devices, ports)
    log = open(os.path.join(d, "sonaed.log"), "w")
    p = subprocess.Popen([a.sonaed, "-f", "-c", conf], stdout=log, stderr=log)
    try:
        t0 = time.monotonic()
        while not os.path.exists(sock):
            if p.poll() is not None or time.monotonic() - t0 > 30:
                sys.exit("snmp_bench: sonaed did not start (log: %s)" % log.name)
            time.sleep(0.05)
        time.sleep(0.1)
        ctl = Control(sock)
        rss_start = proc_status(p.pid)["VmRSS"]
        while True:
            st = ctl.call("status")
            if st["devices"]["pending"] == 0:
                break
            if time.monotonic() - t0 > 4 * INTERVAL_S:
                sys.exit("snmp_bench: devices still pending after %d s: %s"
                         % (4 * INTERVAL_S, st["devices"]))
            time.sleep(0.2)
        first_all_s = time.monotonic() - t0
        polls0, fail0 = ctl.sweep(a.devices)
        res = window(p.pid, ports, resp, a.window)
        ctl.close()  # sonaed closes idle control connections: a new one
        ctl = Control(sock)
        polls1, fail1 = ctl.sweep(a.devices)
        st = ctl.call("status")
        ctl.close()
        res.update({"rss_start_kb": rss_start, "all_polled_after_s": first_all_s,
                    "polls_counted": polls1 - polls0, "failures": fail1 - fail0,
                    "failures_total": fail1, "polls_total": polls1,
                    "status_devices": st["devices"], "metrics": st["metrics"]})
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        log.close()
    res["exit"] = rc
    return res


def run_collectd(a, d, ports, resp):
    conf = collectd_conf(d, a.devices, ports)
    logpath = os.path.join(d, "collectd.log")
    log = open(logpath, "w")
    p = subprocess.Popen([a.collectd, "-f", "-C", conf], stdout=log, stderr=log, env=ENV)
    try:
        time.sleep(2 * INTERVAL_S)
        if p.poll() is not None:
            sys.exit("snmp_bench: collectd exited with %d (log: %s)" % (p.returncode, logpath))
        res = window(p.pid, ports, resp, a.window)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        log.close()
    with open(logpath) as f:
        lines = f.read().splitlines()
    errs = [l for l in lines if "snmp plugin" in l and ("rror" in l or "imeout" in l
                                                         or "failed" in l)]
    res.update({"exit": rc, "log_lines": len(lines), "snmp_error_lines": len(errs),
                "snmp_error_sample": errs[:3]})
    return res


def run_snmpget_loop(a, port):
    cmd = ["snmpget", "-v2c", "-c", "public", "-r0", "-t1", "127.0.0.1:%d" % port] + OIDS
    t0, w0 = os.times(), time.monotonic()
    bad = 0
    for _ in range(a.checks):
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        bad += r.returncode != 0
    t1, w1 = os.times(), time.monotonic()
    cpu = (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)
    return {"checks": a.checks, "failed": bad, "cpu_s": cpu, "wall_s": w1 - w0,
            "cpu_us_per_check": 1e6 * cpu / a.checks,
            "wall_ms_per_check": 1e3 * (w1 - w0) / a.checks}


def main():
    ap = argparse.ArgumentParser(description="SNMP polling benchmark: sonaed vs collectd.")
    ap.add_argument("--sonaed", required=True)
    ap.add_argument("--sonae", required=True)
    ap.add_argument("--collectd", default="/usr/sbin/collectd")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--responders", type=int, default=4)
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--checks", type=int, default=200)
    ap.add_argument("--skip-collectd", action="store_true")
    ap.add_argument("--skip-sonaed", action="store_true", help="(for profiling collectd alone)")
    ap.add_argument("--dir", help="work folder (default: a new temporary one, removed)")
    ap.add_argument("--json", help="write every figure to this file")
    a = ap.parse_args()
    d = a.dir or tempfile.mkdtemp(prefix="sonae-snmp-bench.")
    os.makedirs(d, exist_ok=True)
    res = {"devices": a.devices, "responders": a.responders, "window_s": a.window,
           "oids": OIDS, "loadavg_before": open("/proc/loadavg").read().split()[:3]}
    resp = Responders(d, a.responders)
    try:
        resp.start()
        res["ports"] = resp.ports
        if a.skip_sonaed:
            res["loadavg_mid"] = res["loadavg_before"]
            res["collectd"] = run_collectd(a, d, resp.ports, resp)
            print(json.dumps(res, indent=2))
            return 0
        res["sonaed"] = run_sonaed(a, d, resp.ports, resp)
        res["loadavg_mid"] = open("/proc/loadavg").read().split()[:3]
        if not a.skip_collectd:
            res["collectd"] = run_collectd(a, d, resp.ports, resp)
        res["snmpget"] = run_snmpget_loop(a, resp.ports[0])
    finally:
        resp.stop()
        if a.dir is None:
            shutil.rmtree(d, ignore_errors=True)
    res["loadavg_after"] = open("/proc/loadavg").read().split()[:3]

    s, c, g = res["sonaed"], res.get("collectd"), res["snmpget"]
    exp = a.devices * a.window / INTERVAL_S
    print("%d devices x one 6-OID GET every %d s, %d snmpd responders, %.0f s windows "
          "(expected ~%.0f polls per window)" % (a.devices, INTERVAL_S, a.responders,
                                                 a.window, exp))
    print("sonaed: all devices polled once %.1f s after start; status %s, %d metrics; "
          "exit %d" % (s["all_polled_after_s"], json.dumps(s["status_devices"]),
                       s["metrics"], s["exit"]))
    if c:
        print("collectd: exit %d, %d log lines, %d snmp error lines %s"
              % (c["exit"], c["log_lines"], c["snmp_error_lines"], c["snmp_error_sample"]))
    rows = [("what", "sonaed", "collectd", "target")]
    cv = (lambda k, f: f % c[k]) if c else (lambda k, f: "-")
    rows += [
        ("GETs at the responders in the window", "%d" % s["gets"], cv("gets", "%d"),
         "~%.0f" % exp),
        ("CPU in the window", "%.2f s (%.1f %% core)" % (s["cpu_s"], 100 * s["cpu_s"] / s["window_s"]),
         ("%.2f s (%.1f %% core)" % (c["cpu_s"], 100 * c["cpu_s"] / c["window_s"])) if c else "-",
         ""),
        ("CPU per poll", "%.1f us" % s["cpu_us_per_poll"], cv("cpu_us_per_poll", "%.1f us"),
         "<= %d us" % TARGET_CPU_US),
        ("ratio collectd / sonaed", "", ("%.2f" % (c["cpu_us_per_poll"] / s["cpu_us_per_poll"]))
         if c and s["cpu_us_per_poll"] > 0 else "-", ""),
        ("VmRSS at the end of the window", "%.1f MiB" % (s["rss_kb"] / 1024),
         ("%.1f MiB" % (c["rss_kb"] / 1024)) if c else "-", "<= %d MB" % TARGET_RSS_MB),
        ("VmHWM (peak)", "%.1f MiB" % (s["hwm_kb"] / 1024), ("%.1f MiB" % (c["hwm_kb"] / 1024)) if c else "-",
         "<= %d MB" % TARGET_RSS_MB),
        ("threads", "%d" % s["threads"], cv("threads", "%d"), ""),
        ("polls missed (sonaed: failures in window / all)",
         "%d / %d" % (s["failures"], s["failures_total"]),
         ("%d error lines" % c["snmp_error_lines"]) if c else "-", "0"),
        ("polls counted by sonaed in the window (+ sweeps)", "%d" % s["polls_counted"], "", ""),
        ("snmpd CPU per GET served", "%.1f us" % s["responder_us_per_get"],
         cv("responder_us_per_get", "%.1f us"), ""),
        ("snmpget fork-per-check: CPU per check", "%.0f us (%d checks, %d failed)"
         % (g["cpu_us_per_check"], g["checks"], g["failed"]), "", ""),
        ("snmpget fork-per-check: wall per check", "%.2f ms" % g["wall_ms_per_check"], "", ""),
    ]
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(x.ljust(w[i]) for i, x in enumerate(r)).rstrip())
    print("load: before %s, between %s, after %s" % (" ".join(res["loadavg_before"]),
                                                     " ".join(res["loadavg_mid"]),
                                                     " ".join(res["loadavg_after"])))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
