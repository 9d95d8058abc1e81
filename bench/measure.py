#!/usr/bin/python3
"""Measure a running sonaed on a generated configuration (see bench/README.md).

    measure.py --sonaed BIN --sonae BIN --conf FILE [--runs 5] [--steady 40]
               [--calls 200] [--json OUT]

1. Start-up, RUNS times, each with an empty state folder: the time from just
   before sonaed -f is spawned to the first `sonae status` that exits 0 (the
   CLI is run in a tight loop; a refused attempt costs one CLI start), and
   VmRSS right then.
2. The last daemon keeps running for STEADY seconds (default 40: past the
   first state snapshot, written 30 s after start, which is what costs the
   most memory) while every device polls; VmRSS is sampled every 0.5 s, then
   VmRSS, VmHWM and the daemon's CPU time over that window.
3. The control round trip, CALLS times each: `sonae --json status` as a
   process (what an operator or a script pays), the same request over a new
   raw connection from Python (HELLO, status, the whole JSON read: no process
   start), the request alone on one kept connection, and, for scale, the CLI
   starting alone (`sonae --version`) and /bin/true spawned the same way.

Prints a table; --json writes every figure.  Standard library only.
"""
import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

from benchlib import cpu_seconds, proc_status

TARGET_START_MS = 200
TARGET_RSS_MB = 30
TARGET_RTT_MS = 5


def conf_value(conf, key):
    """A quoted value from the generated file: state_dir, socket."""
    m = re.search(r'\b%s\s*=\s*"([^"]*)"' % key, open(conf).read())
    if m is None:
        sys.exit("measure: no %s in %s" % (key, conf))
    v = m.group(1)
    return v if os.path.isabs(v) else os.path.join(os.path.dirname(conf), v)


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def summary(xs):
    return {"median": statistics.median(xs), "p95": pct(xs, 95), "min": min(xs),
            "max": max(xs), "n": len(xs)}


def start_daemon(a, state, sock, log):
    """Spawn sonaed on an empty state folder; return (proc, ms to first status)."""
    shutil.rmtree(state, ignore_errors=True)
    if os.path.exists(sock):
        os.unlink(sock)
    cli = [a.sonae, "-s", sock, "status"]
    t0 = time.perf_counter()
    p = subprocess.Popen([a.sonaed, "-f", "-c", a.conf], stdout=log, stderr=log)
    while True:
        r = subprocess.run(cli, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return p, (time.perf_counter() - t0) * 1000
        if p.poll() is not None:
            sys.exit("measure: sonaed exited with %d (log: %s)" % (p.returncode, log.name))
        if time.perf_counter() - t0 > 30:
            sys.exit("measure: no answer from sonaed in 30 s (log: %s)" % log.name)


def stop_daemon(p):
    p.send_signal(signal.SIGTERM)
    if p.wait(timeout=30) != 0:
        sys.exit("measure: sonaed exited with %d on SIGTERM" % p.returncode)


def recv_lines(s, buf, n):
    """Read until buf holds n lines; return (lines, rest)."""
    while buf.count(b"\n") < n:
        chunk = s.recv(1 << 16)
        if not chunk:
            raise RuntimeError("sonaed closed the connection")
        buf += chunk
    lines = buf.split(b"\n")
    return lines[:n], b"\n".join(lines[n:])


def status_reply(s, buf):
    """Read one reply to status: its status line and JSON document."""
    (head,), buf = recv_lines(s, buf, 1)
    if int(head.split(b" ", 1)[0]) != 1:
        raise RuntimeError("status answered %r" % head)
    (body,), buf = recv_lines(s, buf, 1)
    return json.loads(body), buf


def raw_status(sock):
    """One request on a new connection, as the CLI does it, without the process."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.sendall(b"HELLO 1\nstatus\n")
    (hello,), buf = recv_lines(s, b"", 1)
    if not hello.startswith(b"0 "):
        raise RuntimeError("HELLO answered %r" % hello)
    doc, _ = status_reply(s, buf)
    s.close()
    return doc


def device_polls(a, sock):
    """Polls so far of the first device (all poll on the same interval)."""
    out = subprocess.run([a.sonae, "-s", sock, "--json", "device", "dev00001"], check=True,
                         capture_output=True).stdout
    return json.loads(out)["polls"]


def timed(fn, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main():
    ap = argparse.ArgumentParser(description="Measure sonaed start-up, memory, round trip.")
    ap.add_argument("--sonaed", required=True)
    ap.add_argument("--sonae", required=True)
    ap.add_argument("--conf", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--steady", type=float, default=40,
                    help="seconds of polling before the memory figures; keep it past "
                    "the first state snapshot (30 s after start by default)")
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--json", help="write every figure to this file")
    a = ap.parse_args()
    a.conf = os.path.abspath(a.conf)
    state = conf_value(a.conf, "state_dir")
    sock = conf_value(a.conf, "socket")
    log = open(os.path.join(os.path.dirname(a.conf), "sonaed.log"), "w")
    res = {"conf": a.conf, "runs": a.runs, "steady_s": a.steady, "calls": a.calls,
           "loadavg_before": open("/proc/loadavg").read().split()[:3]}

    # 1. Start-up.
    start_ms, start_rss = [], []
    for i in range(a.runs):
        p, ms = start_daemon(a, state, sock, log)
        start_ms.append(ms)
        start_rss.append(proc_status(p.pid)["VmRSS"])
        if i + 1 < a.runs:
            stop_daemon(p)
    first = raw_status(sock)
    ndev = first["devices"]["total"]
    res["devices"] = ndev
    res["start_ms"] = summary(start_ms)
    res["start_ms"]["all"] = start_ms
    res["rss_start_kb"] = summary(start_rss)

    # 2. Steady state: every device polls every interval.
    polls0 = device_polls(a, sock)
    cpu0, t0 = cpu_seconds(p.pid), time.monotonic()
    rss_max = 0
    while time.monotonic() - t0 < a.steady:
        time.sleep(0.5)
        rss_max = max(rss_max, proc_status(p.pid)["VmRSS"])
    cpu1, t1 = cpu_seconds(p.pid), time.monotonic()
    st = proc_status(p.pid)
    snapshot = os.path.join(state, "state.json")
    doc = raw_status(sock)
    polls1 = device_polls(a, sock)
    res["steady"] = {
        "rss_kb": st["VmRSS"], "hwm_kb": st["VmHWM"], "rss_max_sampled_kb": rss_max,
        "snapshot_bytes": os.path.getsize(snapshot) if os.path.exists(snapshot) else None,
        "cpu_s": cpu1 - cpu0, "window_s": t1 - t0,
        "devices": doc["devices"], "metrics": doc["metrics"],
        "dev00001_polls": polls1, "dev00001_polls_in_window": polls1 - polls0,
    }
    if res["steady"]["snapshot_bytes"] is None:
        print("measure: warning: no state snapshot written yet: the window misses its "
              "memory (daemon.snapshot_interval, default 30 s)", file=sys.stderr)
    if doc["devices"]["ok"] != ndev or doc["metrics"] != 10 * ndev:
        print("measure: warning: not every device is ok with 10 metrics: %s, %d metrics"
              % (doc["devices"], doc["metrics"]), file=sys.stderr)

    # 3. Round trips.
    cli = [a.sonae, "-s", sock, "--json", "status"]
    dn = subprocess.DEVNULL
    res["rtt_cli_ms"] = summary(timed(lambda: subprocess.run(cli, stdout=dn, check=True),
                                      a.calls))
    res["rtt_raw_ms"] = summary(timed(lambda: raw_status(sock), a.calls))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.sendall(b"HELLO 1\n")
    _, buf = recv_lines(s, b"", 1)
    kept = []
    for _ in range(a.calls):
        t = time.perf_counter()
        s.sendall(b"status\n")
        _, buf = status_reply(s, buf)
        kept.append((time.perf_counter() - t) * 1000)
    s.close()
    res["rtt_kept_ms"] = summary(kept)
    res["cli_version_ms"] = summary(timed(lambda: subprocess.run([a.sonae, "--version"],
                                                                  stdout=dn, check=True),
                                          a.calls))
    res["spawn_true_ms"] = summary(timed(lambda: subprocess.run(["/bin/true"], stdout=dn),
                                         a.calls))
    res["status_json_bytes"] = len(json.dumps(doc, separators=(",", ":")))
    stop_daemon(p)
    log.close()
    res["loadavg_after"] = open("/proc/loadavg").read().split()[:3]

    # Table.
    pw = res["steady"]["cpu_s"] / res["steady"]["window_s"]
    polls = ndev * res["steady"]["dev00001_polls_in_window"]
    rows = [
        ("start -> first `sonae status` answered (median of %d)" % a.runs,
         "%.1f ms" % res["start_ms"]["median"],
         "min %.1f, max %.1f" % (res["start_ms"]["min"], res["start_ms"]["max"]),
         "< %d ms" % TARGET_START_MS),
        ("VmRSS right after start (median)",
         "%.1f MiB" % (res["rss_start_kb"]["median"] / 1024), "", "< %d MiB" % TARGET_RSS_MB),
        ("VmRSS after %.0f s of polling (end of window)" % a.steady,
         "%.1f MiB" % (st["VmRSS"] / 1024), "", "< %d MiB" % TARGET_RSS_MB),
        ("VmRSS, highest sampled every 0.5 s in the window", "%.1f MiB" % (rss_max / 1024),
         "", "< %d MiB" % TARGET_RSS_MB),
        ("VmHWM (peak) at the end", "%.1f MiB" % (st["VmHWM"] / 1024), "",
         "< %d MiB" % TARGET_RSS_MB),
        ("`sonae --json status`, process incl. (median)",
         "%.2f ms" % res["rtt_cli_ms"]["median"], "p95 %.2f" % res["rtt_cli_ms"]["p95"],
         "< %d ms" % TARGET_RTT_MS),
        ("raw socket: connect+HELLO+status (median)", "%.3f ms" % res["rtt_raw_ms"]["median"],
         "p95 %.3f" % res["rtt_raw_ms"]["p95"], "< %d ms" % TARGET_RTT_MS),
        ("raw socket: status on a kept connection (median)",
         "%.3f ms" % res["rtt_kept_ms"]["median"], "p95 %.3f" % res["rtt_kept_ms"]["p95"], ""),
        ("`sonae --version`: the CLI's start alone (median)",
         "%.2f ms" % res["cli_version_ms"]["median"], "p95 %.2f" % res["cli_version_ms"]["p95"],
         "for scale"),
        ("spawn /bin/true the same way (median)", "%.2f ms" % res["spawn_true_ms"]["median"],
         "p95 %.2f" % res["spawn_true_ms"]["p95"], "for scale"),
        ("sonaed CPU while polling", "%.1f %% of a core" % (100 * pw),
         "~%.1f us per device-poll" % (1e6 * res["steady"]["cpu_s"] / max(polls, 1)), ""),
    ]
    print("sonaed: %d devices x 10 metrics, %s" % (ndev, a.conf))
    print("steady state: %s, %d metrics, dev00001 polled %d times (%d in the window), "
          "snapshot %s bytes"
          % (json.dumps(doc["devices"]), doc["metrics"], polls1, polls1 - polls0,
             res["steady"]["snapshot_bytes"]))
    w = max(len(r[0]) for r in rows)
    print("%-*s  %-14s %-32s %s" % (w, "what", "figure", "spread", "target"))
    for r in rows:
        print("%-*s  %-14s %-32s %s" % ((w,) + r))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
