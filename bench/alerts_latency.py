#!/usr/bin/python3
"""
Incident opened -> mail accepted by the relay, through the whole daemon.

A real sonaed (no devices) mails every incident through one route with
group_wait 0 to an SMTP relay on loopback: aiosmtpd, run in this process,
which notes the time it receives the end of each mail's DATA (before it
answers 250) and the mail's X-Sonae-Incident header.  Incidents are opened
with `declare` over one kept control connection, one at a time, GAP seconds
apart; each incident's opening time is the daemon's own (opened_ms of
`incident ID`), so the figure is the daemon's part only: the alerts engine,
the spool's fsync, the delivery engine, libcurl and the SMTP dialogue.  The
host's one clock serves both ends.  Also: sonaed's CPU per mail, and whether
every mail arrived exactly once.

usage: bench/alerts_latency.py --bin DIR [-n N] [--gap SECONDS] [-o FILE]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Control, cpu_seconds, proc_status  # noqa: E402

from aiosmtpd.controller import Controller  # noqa: E402


class Stamp:
    """Notes (incident, time) of every mail at the end of its DATA."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []

    async def handle_DATA(self, server, session, envelope):
        t = time.time()
        inc = None
        for line in envelope.content.split(b"\r\n"):
            if not line:
                break
            if line.lower().startswith(b"x-sonae-incident:"):
                inc = int(line.split(b":", 1)[1])
        with self.lock:
            self.seen.append((inc, t))
        return "250 2.0.0 Ok: queued"


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="folder with sonaed and sonae")
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--gap", type=float, default=0.05)
    ap.add_argument("-o", "--out")
    args = ap.parse_args()

    stamp = Stamp()
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    sink = Controller(stamp, hostname="127.0.0.1", port=port)
    sink.start()
    folder = tempfile.mkdtemp(prefix="sonae-bench-alerts-")
    conf = os.path.join(folder, "sonae.conf")
    sock = os.path.join(folder, "sonae.sock")
    with open(conf, "w") as f:
        f.write("""site: { name = "bench"; };
daemon: { state_dir = "%s/state"; };
control: { socket = "%s"; };
mail: { from = "sonae@bench.example.jp"; relays = ( { url = "smtp://127.0.0.1:%d"; } );
        rate_limit = 0; };
routes = ( { name = "all"; to = ["ict@bench.example.jp"]; group_wait = 0;
             repeat = 0; channels = ["mail"]; } );
""" % (folder, sock, port))
    log = open(os.path.join(folder, "sonaed.log"), "wb")
    proc = subprocess.Popen([os.path.join(args.bin, "sonaed"), "-f", "-c", conf],
                            stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("sonaed did not start: see %s/sonaed.log" % folder)
            time.sleep(0.05)
        time.sleep(0.2)
        ctl = Control(sock)
        cpu0 = cpu_seconds(proc.pid)
        opened = {}
        for k in range(args.n):
            r = ctl.call("declare bench -m \"latency %d\"" % k)
            inc = ctl.call("incident %d" % r["id"])
            opened[r["id"]] = inc["opened_ms"] / 1000.0
            time.sleep(args.gap)
        deadline = time.monotonic() + 60
        while len(stamp.seen) < args.n and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        cpu = cpu_seconds(proc.pid) - cpu0
        rss = proc_status(proc.pid)
        with stamp.lock:
            seen = list(stamp.seen)
        ids = [i for i, _ in seen]
        lat = [(t - opened[i]) * 1000.0 for i, t in seen if i in opened]
        result = {
            "mails": args.n, "received": len(seen),
            "duplicates": len(ids) - len(set(ids)),
            "missing": len(set(opened) - set(ids)),
            "in_order": ids == sorted(ids),
            "gap_s": args.gap,
            "latency_ms": {"p50": pct(lat, 50), "p90": pct(lat, 90),
                           "p99": pct(lat, 99), "max": max(lat), "min": min(lat)},
            "sonaed_cpu_per_mail_us": cpu / args.n * 1e6,
            "sonaed_rss_kb": rss["VmRSS"], "sonaed_hwm_kb": rss["VmHWM"],
        }
    finally:
        proc.terminate()
        proc.wait(10)
        sink.stop()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
    print("incident opened -> mail accepted, %d mails, one every %g s:" % (args.n, args.gap))
    lm = result["latency_ms"]
    print("  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms" %
          (lm["p50"], lm["p90"], lm["p99"], lm["max"]))
    print("  received %d, duplicates %d, missing %d, in order: %s" %
          (result["received"], result["duplicates"], result["missing"], result["in_order"]))
    print("  sonaed CPU %.0f us per mail; RSS %d kB (peak %d kB)" %
          (result["sonaed_cpu_per_mail_us"], result["sonaed_rss_kb"],
           result["sonaed_hwm_kb"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    ok = result["missing"] == 0 and result["duplicates"] == 0 and lm["p99"] <= 1000
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
