#!/usr/bin/python3
"""Trap-to-metric latency on loopback (see bench/README.md).

    trap_bench.py --sonaed BIN --sonae BIN [--traps 200] [--dir DIR] [--json OUT]

1. Starts one snmpsimd on 127.0.0.1 serving tests/integration/data/ups-rfc1628
   (upsOutputSource settable) and sonaed with one snmp device on it, polled
   every 600 s (so no scheduled poll falls in the run), and a traps group on
   127.0.0.1 with poll_gap 0 (traps come at least tens of ms apart anyway).
2. For each trap: flips upsOutputSource between battery (5) and normal (3)
   with snmpset and reads it back, then sends upsTrapOnBattery, the bytes of a
   real snmptrap packet (tests/fuzz/corpus/trap/v2c-ups-on-battery), from a
   Python UDP socket on 127.0.0.1, noting the wall time just before sendto.
   One control connection, kept open, asks `device ups1` every 2 ms until
   on_battery shows the new value.
3. Latency per trap, two ways: "metric" is the sample's own time stamp (set
   by sonaed when the poll's results are committed) minus the send time, so
   how often the client asks does not matter; "observed" is when the client
   first saw the value, minus the send time (adds up to 2 ms plus a request).

Prints p50/p95/p99/max against the target p99 <= 50 ms; --json writes every
figure.  Standard library only.
"""
import argparse
import datetime
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TARGET_P99_MS = 50
RFC = "1.3.6.1.2.1.33.1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "integration", "data")
PACKET = os.path.join(ROOT, "tests", "fuzz", "corpus", "trap", "v2c-ups-on-battery")
ENV = dict(os.environ, MIBS="")


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pct(xs, p):
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def summary(xs):
    return {"n": len(xs), "p50": pct(xs, 50), "p95": pct(xs, 95), "p99": pct(xs, 99),
            "max": max(xs), "min": min(xs)}


class Control:
    """One raw connection to the control socket, kept open."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = b""
        self.s.sendall(b"HELLO 1\n")
        if not self.line().startswith(b"0 "):
            raise RuntimeError("HELLO refused")

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise RuntimeError("sonaed closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def request(self, req):
        self.s.sendall(req.encode() + b"\n")
        head = self.line()
        st = int(head.split(b" ", 1)[0])
        if st < 0:
            raise RuntimeError("%s: %r" % (req, head))
        return json.loads(self.line()) if st >= 1 else None


def metric(dev, name):
    for m in dev["metrics"]:
        if m["name"] == name:
            return m
    return None


def epoch(iso):
    return datetime.datetime.fromisoformat(iso).timestamp()


def snmpset(peer, value):
    subprocess.run(["snmpset", "-v2c", "-c", "ups-rfc1628", "-r1", "-t1", peer,
                    RFC + ".4.1.0", "i", str(value)], env=ENV, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    r = subprocess.run(["snmpget", "-v2c", "-c", "ups-rfc1628", "-r1", "-t1", "-Oqv",
                        peer, RFC + ".4.1.0"], env=ENV, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    if r.stdout.decode().strip() != str(value):
        sys.exit("trap_bench: snmpset %s did not take" % value)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sonaed", required=True)
    ap.add_argument("--sonae", required=True)
    ap.add_argument("--traps", type=int, default=200)
    ap.add_argument("--dir")
    ap.add_argument("--json")
    a = ap.parse_args()

    d = a.dir or tempfile.mkdtemp(prefix="sonae-trapbench-")
    procs = []

    def stop_all():
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    try:
        sim = os.path.join(d, "sim")
        os.makedirs(os.path.join(sim, "data"), exist_ok=True)
        os.makedirs(os.path.join(sim, "cache"), exist_ok=True)
        os.chmod(os.path.join(sim, "cache"), 0o777)
        os.chmod(d, 0o755)
        os.chmod(sim, 0o755)
        os.chmod(os.path.join(sim, "data"), 0o755)
        shutil.copy(os.path.join(DATA, "ups-rfc1628.snmprec"), os.path.join(sim, "data"))
        os.chmod(os.path.join(sim, "data", "ups-rfc1628.snmprec"), 0o644)
        sport, tport = free_udp_port(), free_udp_port()
        peer = "127.0.0.1:%d" % sport
        argv = ["snmpsimd", "--data-dir=" + os.path.join(sim, "data"),
                "--cache-dir=" + os.path.join(sim, "cache"),
                "--agent-udpv4-endpoint=" + peer, "--logging-method=null"]
        if os.geteuid() == 0:
            argv += ["--process-user=nobody", "--process-group=nogroup"]
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 20
        while subprocess.run(["snmpget", "-v2c", "-c", "ups-rfc1628", "-r0", "-t0.3",
                              peer, RFC + ".4.1.0"], env=ENV, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL).returncode != 0:
            if time.monotonic() > deadline:
                sys.exit("trap_bench: snmpsimd does not answer")
            time.sleep(0.1)

        sock = os.path.join(d, "sonae.sock")
        conf = os.path.join(d, "sonae.conf")
        with open(conf, "w") as f:
            f.write('site: { name = "trap bench"; };\n'
                    'daemon: { state_dir = "%s"; };\n'
                    'control: { socket = "%s"; };\n'
                    'traps: { listen = "udp:127.0.0.1:%d"; community = "public"; '
                    'poll_gap = "0s"; log_interval = "1h"; };\n'
                    'devices = ( { name = "ups1"; interval = "600s"; timeout = "1s"; '
                    'retries = 0; snmp = { address = "udp:%s"; community = '
                    '"ups-rfc1628"; profile = "ups-rfc1628"; }; } );\n'
                    % (os.path.join(d, "state"), sock, tport, peer))
        log = open(os.path.join(d, "sonaed.log"), "wb")
        procs.append(subprocess.Popen([a.sonaed, "-f", "-c", conf], stdout=log,
                                      stderr=log))
        deadline = time.monotonic() + 20
        while subprocess.run([a.sonae, "-s", sock, "poll", "ups1"],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL).returncode != 0:
            if time.monotonic() > deadline:
                sys.exit("trap_bench: sonaed does not answer")
            time.sleep(0.05)
        c = Control(sock)
        while metric(c.request("device ups1"), "on_battery") is None:
            time.sleep(0.05)

        with open(PACKET, "rb") as f:
            pkt = f.read()
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        load0 = os.getloadavg()
        lat_metric, lat_seen, missed = [], [], 0
        state = metric(c.request("device ups1"), "on_battery")["value"]
        for i in range(a.traps):
            want = not state
            snmpset(peer, 5 if want else 3)
            time.sleep(random.uniform(0.01, 0.03))
            t0 = time.time()
            tx.sendto(pkt, ("127.0.0.1", tport))
            while True:
                m = metric(c.request("device ups1"), "on_battery")
                now = time.time()
                if m["value"] == want and m["quality"] == "ok":
                    lat_metric.append((epoch(m["time"]) - t0) * 1000)
                    lat_seen.append((now - t0) * 1000)
                    state = want
                    break
                if now - t0 > 2:
                    missed += 1
                    state = m["value"]
                    break
                time.sleep(0.002)
        load1 = os.getloadavg()
        traps = c.request("traps")
        dev = c.request("device ups1")
    finally:
        stop_all()
        if not a.dir:
            shutil.rmtree(d, ignore_errors=True)

    out = {"traps": a.traps, "missed": missed, "metric_ms": summary(lat_metric),
           "observed_ms": summary(lat_seen), "target_p99_ms": TARGET_P99_MS,
           "loadavg_before": load0, "loadavg_after": load1,
           "receiver": traps["counters"], "device_polls": dev["polls"]}
    print("%d traps (upsTrapOnBattery, v2c, loopback), each after a flip of "
          "upsOutputSource; device interval 600 s" % a.traps)
    print("%-34s %8s %8s %8s %8s" % ("", "p50", "p95", "p99", "max"))
    for k, label in (("metric_ms", "trap -> metric (sample time)"),
                     ("observed_ms", "trap -> seen by a client")):
        s = out[k]
        print("%-34s %7.2fms %7.2fms %7.2fms %7.2fms" % (label, s["p50"], s["p95"],
                                                         s["p99"], s["max"]))
    print("missed (no change within 2 s): %d; target p99 <= %d ms: %s" % (
        missed, TARGET_P99_MS,
        "met" if missed == 0 and out["metric_ms"]["p99"] <= TARGET_P99_MS else "NOT met"))
    print("receiver: %s; device polls %d" % (json.dumps(traps["counters"]), dev["polls"]))
    print("load average before %.2f %.2f %.2f, after %.2f %.2f %.2f" % (load0 + load1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
