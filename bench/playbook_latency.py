#!/usr/bin/python3
"""
Incident opened -> first step of its playbook running, through the whole
daemon (see bench/README.md, "playbook.sh").

A real sonaed polls one Modbus TCP device (bench/modbus_server.c, one port)
every INTERVAL.  One rule, `pb1.level > 500`, names the playbook `bench-exec`,
whose first step is an `exec` of bench/pb_stamp: it notes CLOCK_REALTIME as
the first thing its main() does, prints it (sonaed keeps it as the step's
output) and appends it, with SONAE_INCIDENT and SONAE_RUN, to a file this
script watches.  For each sample this script writes the holding register
(Modbus function 6, on its own connection to the server) above the
threshold, waits for the stamp to appear in the file (without asking the
daemon anything meanwhile), then reads from the daemon:

  - the incident's opened_ms (`incident ID`, the time detect.c opened it);
  - the run's start and its first step's started_ms (`run-status RUN`);
  - the program's own time stamp (the step's output).

Then it writes the register back below the threshold and waits until the
incident is resolved, and goes on: N incidents opened and resolved in turn.

--variant notify: the playbook `bench-notify` starts with a `notify` step
(`to` one address: alerts_notice() queues the mail into the spool at once,
no route involved) and then the same exec step, which tells this script the
run got that far.  sonaed relays to aiosmtpd run in this process (Debian's
python3-aiosmtpd), which notes when each mail's DATA ends.  Figures: opened
-> the notify step started (its first step running), -> it ended (the mail
queued durably: the spool's fsyncs), -> the mail accepted by the relay, and
-> the second step's program running.

Figures (ms): opened -> step started (the engine's part, both ends in whole
ms from the daemon's clock), opened -> program running (the daemon's ms
against the program's ns), and step started -> program running (the
checkpoint written before the step acts, then the spawn; the step's start is
truncated to the ms, so this is over-stated by 0.5 ms on average).  The host's
one clock serves both ends.  Also sonaed's CPU per incident.

usage: bench/playbook_latency.py --bin DIR --server BIN --stamp BIN [-n N]
           [--variant exec|notify] [--interval S] [--dir DIR] [-o FILE]
"""
import argparse
import datetime
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Control, cpu_seconds, proc_status  # noqa: E402

TARGET_P99_MS = 100
HIGH, LOW = 1000, 0


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def summary(values):
    return {"n": len(values), "p50": pct(values, 50), "p90": pct(values, 90),
            "p99": pct(values, 99), "max": max(values), "min": min(values),
            "mean": sum(values) / len(values)}


class ModbusWriter:
    """Writes holding register 0 of unit 1 (function 6) on one kept connection."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.tid = 0

    def write(self, value):
        self.tid = (self.tid + 1) & 0xFFFF
        req = struct.pack(">HHHBBHH", self.tid, 0, 6, 1, 6, 0, value)
        self.s.sendall(req)
        got = b""
        while len(got) < 12:
            chunk = self.s.recv(12 - len(got))
            if not chunk:
                raise RuntimeError("modbus_server closed the connection")
            got += chunk
        if got != req:
            raise RuntimeError("write answered %r" % got)

    def close(self):
        self.s.close()


def iso_ms(text):
    """A time of the daemon's JSON ("2026-11-27T06:21:24.123+09:00") in ms."""
    return int(round(datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
                     .timestamp() * 1000))


class Sink:
    """Notes (incident, time) of every mail at the end of its DATA."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}

    async def handle_DATA(self, server, session, envelope):
        t = time.time()
        inc = None
        for line in envelope.content.split(b"\r\n"):
            if not line:
                break
            if line.lower().startswith(b"x-sonae-incident:"):
                inc = int(line.split(b":", 1)[1])
        with self.lock:
            self.seen.setdefault(inc, []).append(t)
        return "250 2.0.0 Ok: queued"


def write_site(d, sock, port, interval_s, stamp_bin, stamps, variant, smtp_port):
    pbdir = os.path.join(d, "playbooks")
    os.mkdir(pbdir)
    exec_step = """{ id = "stamp"; type = "exec"; title = "Note the time";
	  command = ["%s", "%s"]; timeout = "10s"; }""" % (stamp_bin, stamps)
    if variant == "exec":
        steps = exec_step
    else:
        steps = """{ id = "tell"; type = "notify"; title = "ICT に連絡 / Tell ICT";
	  text = "${incident.title}: bench/playbook_latency.py";
	  to = ["ict@bench.example.jp"]; },
	""" + exec_step
    with open(os.path.join(pbdir, "bench-%s.conf" % variant), "w") as f:
        f.write("""name = "bench-%s";
title_ja = "ベンチマーク";
title_en = "Benchmark";
description = "bench/playbook_latency.py: a step notes when it runs.";
steps = (
	%s
);
""" % (variant, steps))
    mail = ""
    if variant == "notify":
        mail = """mail: { from = "sonae@bench.example.jp";
        relays = ( { url = "smtp://127.0.0.1:%d"; } ); };
""" % smtp_port
    conf = os.path.join(d, "sonae.conf")
    with open(conf, "w") as f:
        f.write("""# Generated by bench/playbook_latency.py.
site: { name = "bench-playbook"; };
daemon: { state_dir = "%s"; };
control: { socket = "%s"; };
playbooks = { dir = "%s"; };
devices = (
	{ name = "pb1"; kind = "sensor"; interval = "%dms"; timeout = "%dms";
	  modbus = { address = "tcp:127.0.0.1:%d"; unit = 1;
	             points = ( { name = "level"; table = "holding"; address = 0; } ); }; }
);
rules = (
	{ name = "pb-bench"; description = "bench: level above 500";
	  when = "pb1.level > 500"; flap_detection = false; playbook = "bench-%s"; }
);
%s""" % (os.path.join(d, "state"), sock, pbdir, int(interval_s * 1000),
            max(100, int(interval_s * 1000 * 0.8)), port, variant, mail))
    return conf


def stamp_line(path, k):
    """Line k of the stamps file once it is whole (ends with a newline): a
    read may catch pb_stamp's write half done."""
    try:
        with open(path) as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return None
    return lines[k] if len(lines) > k + 1 else None


def open_incidents(ctl):
    return [i for i in ctl.call("incidents").get("incidents", [])
            if i.get("rule") == "pb-bench"]


def wait_for(what, cond, timeout, step):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise SystemExit("playbook_latency: timed out waiting for %s" % what)
        time.sleep(step)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="folder with sonaed")
    ap.add_argument("--server", required=True, help="bench/modbus_server, built")
    ap.add_argument("--stamp", required=True, help="bench/pb_stamp, built")
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--variant", choices=("exec", "notify"), default="exec",
                    help="the playbook's first step (notify: then the exec step)")
    ap.add_argument("--interval", type=float, default=0.2, help="poll interval, s")
    ap.add_argument("--dir", help="keep the files here (default: a temporary folder)")
    ap.add_argument("-o", "--out")
    args = ap.parse_args()

    stamp_bin = os.path.abspath(args.stamp)
    folder = args.dir or tempfile.mkdtemp(prefix="sonae-bench-playbook-")
    os.makedirs(folder, exist_ok=True)
    sock = os.path.join(folder, "sonae.sock")
    stamps = os.path.join(folder, "stamps")
    server = subprocess.Popen([args.server, "1"], stdout=subprocess.PIPE, text=True,
                              bufsize=1)
    line = server.stdout.readline().split()
    if not line or line[0] != "ports":
        raise SystemExit("playbook_latency: modbus_server did not start: %r" % line)
    port = int(line[1])
    mb = ModbusWriter(port)
    mb.write(LOW)
    sink = smtp = None
    smtp_port = 0
    if args.variant == "notify":
        from aiosmtpd.controller import Controller
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        smtp_port = s.getsockname()[1]
        s.close()
        sink = Sink()
        smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
        smtp.start()
    conf = write_site(folder, sock, port, args.interval, stamp_bin, stamps, args.variant,
                      smtp_port)
    log = open(os.path.join(folder, "sonaed.log"), "wb")
    proc = subprocess.Popen([os.path.join(args.bin, "sonaed"), "-f", "-c", conf],
                            stdout=log, stderr=log)
    samples = []
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("sonaed did not start: see %s/sonaed.log" % folder)
            time.sleep(0.05)
        time.sleep(0.2)
        ctl = Control(sock)
        wait_for("the device's first poll",
                 lambda: ctl.call("status")["devices"]["ok"] == 1, 20, 0.05)
        if open_incidents(ctl):
            raise SystemExit("playbook_latency: an incident is open before the first sample")
        cpu0 = cpu_seconds(proc.pid)
        t_start = time.monotonic()
        random.seed(7)
        for k in range(args.n):
            mb.write(HIGH)
            # Only the file is watched until the step ran: nothing is asked
            # of the daemon while it opens the incident and starts the run.
            stamp = wait_for("the stamp of sample %d" % k,
                             lambda: stamp_line(stamps, k), 10, 0.001).split()
            prog_ns, inc_id, run_id = int(stamp[0].replace(".", "")), int(stamp[1]), int(stamp[2])
            inc = ctl.call("incident %d" % inc_id)
            rs = wait_for("run %d to end" % run_id,
                          lambda: (lambda r: r if r["state"] != "running" else None)(
                              ctl.call("run-status %d" % run_id)), 10, 0.005)
            first, step = rs["steps"][0], rs["steps"][-1]
            out = (step.get("output") or "").split()
            opened = inc["opened_ms"]
            s = {
                "incident": inc_id, "run": run_id, "rule": inc["rule"],
                "opened_ms": opened,
                "run_started_ms": iso_ms(rs["started"]),
                "step_started_ms": first["started_ms"],
                "step_ended_ms": first["ended_ms"],
                "step_result": first["result"],
                "exec_started_ms": step["started_ms"],
                "program_ns": prog_ns,
                "output_matches": bool(out) and out[0] == stamp[0],
                "run_state": rs["state"],
                "step_state": "done" if all(x["state"] == "done" for x in rs["steps"])
                              else "/".join(x["state"] for x in rs["steps"]),
            }
            s["open_to_step_ms"] = s["step_started_ms"] - opened
            s["open_to_program_ms"] = prog_ns / 1e6 - opened
            s["step_to_program_ms"] = prog_ns / 1e6 - s["exec_started_ms"]
            s["open_to_run_ms"] = s["run_started_ms"] - opened
            if sink is not None:
                s["open_to_step_end_ms"] = s["step_ended_ms"] - opened
                got = wait_for("the notice of incident %d at the relay" % inc_id,
                               lambda: sink.seen.get(inc_id), 10, 0.005)
                s["open_to_mail_ms"] = got[0] * 1000.0 - opened
                s["mails"] = len(got)
            samples.append(s)
            mb.write(LOW)
            wait_for("incident %d to resolve" % inc_id,
                     lambda: not open_incidents(ctl), 10, 0.02)
            # Any phase against the poll schedule and the housekeeping timer.
            time.sleep(random.uniform(0.0, args.interval))
        wall = time.monotonic() - t_start
        cpu = cpu_seconds(proc.pid) - cpu0
        rss = proc_status(proc.pid)
        runs_dir = os.path.join(folder, "state", "runs")
        run_files = os.listdir(runs_dir) if os.path.isdir(runs_dir) else []
        run_bytes = sum(os.path.getsize(os.path.join(runs_dir, f)) for f in run_files)
        ctl.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        server.send_signal(signal.SIGTERM)
        server.wait(10)
        mb.close()
        log.close()
        if smtp is not None:
            smtp.stop()
    bad = [s for s in samples if not s["output_matches"] or s["run_state"] != "done"
           or s["step_state"] != "done"]
    if sink is not None:
        with sink.lock:
            extra = sum(len(v) for v in sink.seen.values()) - len(samples)
        bad += [s for s in samples if s["mails"] != 1]
    result = {
        "incidents": args.n, "interval_s": args.interval, "variant": args.variant,
        "open_to_step_ms": summary([s["open_to_step_ms"] for s in samples]),
        "open_to_program_ms": summary([s["open_to_program_ms"] for s in samples]),
        "step_to_program_ms": summary([s["step_to_program_ms"] for s in samples]),
        "open_to_run_ms": summary([s["open_to_run_ms"] for s in samples]),
        # detect.json keeps the resolved incidents (500 at most) and is
        # rewritten in the turn that opens one: does the figure grow?
        "open_to_program_p50_by_quarter_ms": [
            pct([x["open_to_program_ms"] for x in samples[q * len(samples) // 4:
                                                        (q + 1) * len(samples) // 4]], 50)
            for q in range(4)],
        "bad_samples": len(bad),
        "notify": {
            "open_to_step_end_ms": summary([s["open_to_step_end_ms"] for s in samples]),
            "open_to_mail_ms": summary([s["open_to_mail_ms"] for s in samples]),
            "mails_besides_the_notices": extra,
            "result_example": samples[0]["step_result"],
        } if sink is not None else None,
        "wall_s": wall,
        "sonaed_cpu_s": cpu,
        "sonaed_cpu_per_incident_ms": cpu / args.n * 1e3,
        "sonaed_rss_kb": rss["VmRSS"], "sonaed_hwm_kb": rss["VmHWM"],
        "run_files": len(run_files), "run_files_bytes": run_bytes,
        "samples": samples,
    }
    if not args.dir:
        shutil.rmtree(folder, ignore_errors=True)
    print("incident opened -> first step (%s) running, %d incidents, poll every %g s:"
          % (args.variant, args.n, args.interval))
    rows = [("open_to_run_ms", "opened -> run started (record)"),
            ("open_to_step_ms", "opened -> step started (record)")]
    if sink is not None:
        rows += [("open_to_step_end_ms", "opened -> notice queued (step ended)"),
                 ("open_to_mail_ms", "opened -> notice accepted by the relay")]
    rows += [("open_to_program_ms", "opened -> exec step's program running"),
             ("step_to_program_ms", "exec step started -> program running")]
    for key, what in rows:
        m = result[key] if key in result else result["notify"][key]
        print("  %-40s p50 %6.2f  p90 %6.2f  p99 %6.2f  max %6.2f ms"
              % (what, m["p50"], m["p90"], m["p99"], m["max"]))
    print("  opened -> program running, p50 by quarter of the run: %s ms"
          % " / ".join("%.1f" % x for x in result["open_to_program_p50_by_quarter_ms"]))
    print("  runs done with the stamp in their output: %d of %d" % (args.n - len(bad), args.n))
    print("  sonaed CPU %.2f ms per incident (open, run, resolve, %g s of polling each);"
          " RSS %d kB (peak %d kB)" % (result["sonaed_cpu_per_incident_ms"], wall / args.n,
                                      rss["VmRSS"], rss["VmHWM"]))
    print("  %d run records, %d bytes in state_dir/runs" % (len(run_files), run_bytes))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    if sink is not None:
        print("  notices at the relay: one per incident%s; the step's result reads \"%s\""
              % ("" if not extra else " (and %d other mails)" % extra,
                 result["notify"]["result_example"]))
    first = "open_to_program_ms" if sink is None else "open_to_step_ms"
    ok = not bad and result[first]["p99"] <= TARGET_P99_MS
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
