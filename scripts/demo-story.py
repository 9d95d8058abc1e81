#!/usr/bin/python3
"""
The demo's story, told over SNMP: scripts/demo.sh runs this next to sonaed and
two snmpsimd agents, and it changes the agents' values with snmpset (through
snmpsim's write cache, and the demolink module for the switch's uplink) on a
120 s timeline that loops, in step with the replay scenarios of env1 and leak1:

      0 s  mains on, UPS on line (OL), battery full, the LGWAN uplink up
     20 s  mains fails: the UPS goes on battery (OB); seconds on battery
           rise, charge and runtime fall; the air conditioning stops (env1)
     35 s  the LGWAN uplink goes down (ifOperStatus 2)
     50 s  the battery runs low (upsBatteryStatus 3: OB LB)
     54 s  the UPS card stops answering (its agent is paused with SIGSTOP)
     70 s  the card answers again, and mains returns: on line (OL), the
           battery recharges
     80 s  the LGWAN uplink comes back
    120 s  the story starts again

usage: demo-story.py UPS_PEER WAN_PEER UPS_AGENT_PID [SECONDS]
  PEER: 127.0.0.1:PORT; the communities are ups1 and wan1 (the data files'
  names).  One line per event on stdout.  Standard library only.
"""
import os
import signal
import subprocess
import sys
import time

PERIOD = 120
RFC = "1.3.6.1.2.1.33.1"
OPER_WAN = "1.3.6.1.2.1.2.2.1.8.1"     # ifOperStatus of ge-0/0/1, "LGWAN uplink"

MAINS_FAIL, MAINS_BACK = 20, 70
LINK_DOWN, LINK_UP = 35, 80
CARD_SILENT, CARD_BACK = 54, 70
LOW_CHARGE = 50          # the card reports battery low under this charge (%)


def ups_state(t):
    """What the UPS's agent says at t seconds into the story: {OID: value}."""
    on_battery = MAINS_FAIL <= t < MAINS_BACK
    if t < MAINS_FAIL:
        charge = 100
    elif on_battery:
        charge = 100 - 1.7 * (t - MAINS_FAIL)
    else:
        charge = min(100, 100 - 1.7 * (MAINS_BACK - MAINS_FAIL) + (t - MAINS_BACK))
    charge = int(round(charge))
    return {
        RFC + ".4.1.0": 5 if on_battery else 3,                  # upsOutputSource
        RFC + ".2.1.0": 3 if on_battery and charge < LOW_CHARGE else 2,  # BatteryStatus
        RFC + ".2.2.0": t - MAINS_FAIL if on_battery else 0,     # SecondsOnBattery
        RFC + ".2.3.0": int(round(charge * 0.4)),                # MinutesRemaining
        RFC + ".2.4.0": charge,                                  # ChargeRemaining
        RFC + ".3.3.1.2.1": 0 if on_battery else 500,            # InputFrequency
        RFC + ".3.3.1.3.1": 0 if on_battery else 101,            # InputVoltage
    }


def wan_state(t):
    return {OPER_WAN: 2 if LINK_DOWN <= t < LINK_UP else 1}


EVENTS = [
    (0, "mains on: ups1 on line (upsOutputSource 3), battery full; LGWAN uplink up"),
    (MAINS_FAIL, "mains fails: ups1 on battery (upsOutputSource 5); the air "
     "conditioning stops"),
    (LINK_DOWN, "the LGWAN uplink goes down (wan1 ifOperStatus.1 = 2)"),
    (50, "ups1 battery low (upsBatteryStatus 3)"),
    (CARD_SILENT, "ups1's SNMP card stops answering"),
    (CARD_BACK, "ups1's SNMP card answers again"),
    (MAINS_BACK, "mains returns: ups1 on line (upsOutputSource 3), recharging"),
    (LINK_UP, "the LGWAN uplink is back (wan1 ifOperStatus.1 = 1)"),
]


def snmpset(peer, community, values):
    """One SET of all values; False (and why on stdout) when it failed."""
    argv = ["snmpset", "-v2c", "-c", community, "-r1", "-t1", "-Oq", peer]
    for oid, v in sorted(values.items()):
        argv += [oid, "i", str(v)]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=dict(os.environ, MIBS=""))
    err = r.stderr.decode("utf-8", "replace").strip()
    if r.returncode != 0 or err:
        say("snmpset %s -c %s failed: %s" % (peer, community,
                                               err or "exit %d" % r.returncode))
        return False
    return True


start = time.monotonic()


def say(text):
    print("t+%ds  %s" % (int(time.monotonic() - start), text), flush=True)


def main():
    if len(sys.argv) not in (4, 5):
        sys.stderr.write(__doc__.split("usage: ")[1].split("\n")[0] + "\n")
        return 2
    ups_peer, wan_peer, ups_pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seconds = float(sys.argv[4]) if len(sys.argv) == 5 else float("inf")
    paused = [False]

    def resume(*_):
        if paused[0]:
            os.kill(ups_pid, signal.SIGCONT)
            paused[0] = False

    def terminate(*_):
        resume()
        sys.exit(0)
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)

    sent = {"ups": {}, "wan": {}}
    tick = 0
    while tick < seconds:
        t = tick % PERIOD
        for at, what in EVENTS:
            if at == t:
                say(what)
        if t == CARD_SILENT and not paused[0]:
            os.kill(ups_pid, signal.SIGSTOP)
            paused[0] = True
        elif t == CARD_BACK or t == 0:
            resume()
        for dev, peer, want in (("ups", ups_peer, ups_state(t)),
                                ("wan", wan_peer, wan_state(t))):
            if dev == "ups" and paused[0]:
                continue
            diff = {k: v for k, v in want.items() if sent[dev].get(k) != v}
            if diff and snmpset(peer, dev + "1", diff):
                sent[dev].update(diff)
        tick += 1
        time.sleep(max(0.0, start + tick - time.monotonic()))
    resume()
    return 0


if __name__ == "__main__":
    sys.exit(main())
