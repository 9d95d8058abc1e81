#!/usr/bin/python3
"""
The demo's story, told over SNMP and Modbus: scripts/demo.sh runs this next to
sonaed, two snmpsimd agents and the simulated Modbus gateway of the
environment sensors (scripts/demo-sensors.py), and it changes the agents'
values with snmpset (through snmpsim's write cache, and the demolink module
for the switch's uplink) on a 120 s timeline that loops.  With --traps it
also sends the traps ups1's RFC 1628 card would send, with snmptrap -v2c right
after the SET that makes them true (sonaed polls ups1 only every 15 s: the
trap makes it poll at once).  With --modbus it writes the readings of env1
(temperature and humidity, unit 1) and leak1 (leak cable, unit 3) into the
gateway's registers (function 16, through its back door: see
demo-sensors.py).  With --sonae it is also the operator on duty, who answers
the playbooks' human steps through the CLI (marked "op" below; see
OPERATOR).  One line each:

      0 s  mains on, UPS on line (OL), battery full, the LGWAN uplink up;
           23.5 degC, 45 %RH at the rack inlet, no leak; the ICT unit's six
           people at work: operating mode normal
      4 s  op: `sonae drill battery-critical`, a rehearsal of the orderly
           shutdown (the first time round only): its notices mail only the
           drill address, 【訓練】[DRILL]
      7 s  op: Sato, on duty, has the flu (the first time round only, as
           the staff acts below): `sonae staff set sato unavailable
           --until 5d` (1 of 6 absent, 17 %: still normal)
      9 s  op: approves the drill's shutdown; its tiers are recorded as
           "would run", with their commands, and nothing runs
     11 s  op: Tanaka has a fever: 2 of 6
           absent, 33 %: the mode becomes reduced on its own, and every
           staff member is mailed why, with the headcount; from now on the
           routes tell everyone available at once, the vendor copied, and
           the class-2 sensors' problems wait for the daily digest
     15 s  op: stops the drill (`sonae abort`) where it waits for mains and
           a charged battery (10 minutes)
     20 s  mains fails: the UPS goes on battery (OB); seconds on battery
           rise, charge and runtime fall; the air conditioning stops and
           the room heats up (env1: 24.8 degC, then every 10 s warmer)
           trap upsTrapOnBattery
           (25 s: the power outage's incident opens, and sonaed starts
           playbook power-outage for it; its first step mails the ICT team)
     31 s  op: confirms power-outage's step facilities (the building's
           power people were called)
     35 s  the LGWAN uplink goes down (ifOperStatus 2)
     44 s  op: the inlet's incident is open (above 27 degC since 40 s): the
           operator has looked at the server room and confirms the step
           room; the step heat finds the inlet above 27 degC and mails a
           warning; the run then waits for mains (step mains: 5 minutes on
           line)
     45 s  water under the raised floor: leak1 reports a leak 12 m along
           its cable
     50 s  the battery runs low (upsBatteryStatus 3: OB LB)
           trap upsTrapAlarmEntryAdded (upsAlarmLowBattery)
           (sonaed starts battery-critical, which asks for approval of the
           orderly shutdown: yes by default in 2 minutes)
     54 s  the UPS card stops answering (its agent is paused with SIGSTOP)
     60 s  the leak is cleared; the room peaks at 32.4 degC
     70 s  the card answers again, and mains returns: on line (OL), the
           battery recharges, the air conditioning restarts
           traps upsTrapAlarmEntryRemoved (upsAlarmLowBattery), then
           upsTrapAlarmEntryRemoved (upsAlarmOnBattery)
     72 s  op: answers battery-critical's approve "no" (mains is back):
           the run goes to its exit step, past the tiers
     75 s  the room cools down (back to 23.5 degC at 105 s)
     76 s  op: confirms battery-critical's exit (no shutdown was needed):
           that run is done
     80 s  the LGWAN uplink comes back
     84 s  op: Sato is back (`sonae staff set sato available`): 1 of 6
           absent; the mode steps back down to normal only once that held
           for 30 s (staffing.hold), at about 114 s, and the mail says so
           with the work the reduced mode put off
    120 s  the story starts again

power-outage's run still waits for mains when the demo ends: the playbook
wants mains back for 5 minutes before it mails that mains is back and asks
about the UPS vendor and its exit, and the story's mains fails again 70 s
after it returned.  The other runs (cooling-failure, water-leak,
communications-outage) wait at their first human step: the operator is
busy with the power.  Nothing in the story lets a shutdown step run (the
demo machine has no hosts to power off): besides the answers above, the
operator answers "no" to a real run that waited a minute at
battery-critical's approve (should the answer at 72 s come to nothing) or
at cooling-failure's shed (which only a demo left running for over an hour
reaches): GUARDED.

The humidity follows the temperature: the air holds the same water, so the
relative humidity falls as it warms (45 %RH at 23.5 degC, 27 %RH at 32.4).

RFC 1628 has no "on line" trap: a card says mains is back by removing the
upsAlarmOnBattery entry from its alarm table, with upsTrapAlarmEntryRemoved
(sent for every alarm but upsAlarmTestInProgress); upsTrapAlarmEntryAdded is
not sent for upsAlarmOnBattery (upsTrapOnBattery is), but is for
upsAlarmLowBattery.  upsTrapOnBattery is resent every minute on battery: the
story's 50 s on battery need no second one.  The simulated card has no alarm
table (upsAlarmsPresent stays 0): the traps name the alarms, the polled
upsOutputSource and upsBatteryStatus say OB and LB.

usage: demo-story.py [--traps=PEER [--trap-community=demo]] [--modbus=PEER] [--sonae=BIN --socket=PATH] UPS_PEER WAN_PEER UPS_PID [SECONDS]
  PEER: 127.0.0.1:PORT; the agents' communities are ups1 and wan1 (the data
  files' names); UPS_PID: ups1's agent, paused while the card is silent;
  BIN: the sonae command, PATH: sonaed's control socket (the operator).
  One line per event (and per trap sent, Modbus write and operator's
  command) on stdout.
  Standard library only, and pymodbus (Debian python3-pymodbus) for --modbus.
"""
import datetime
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PERIOD = 120
RFC = "1.3.6.1.2.1.33.1"
OPER_WAN = "1.3.6.1.2.1.2.2.1.8.1"     # ifOperStatus of ge-0/0/1, "LGWAN uplink"

MAINS_FAIL, MAINS_BACK = 20, 70
LINK_DOWN, LINK_UP = 35, 80
CARD_SILENT, CARD_BACK = 54, 70
LOW_CHARGE = 50          # the card reports battery low under this charge (%)
BATTERY_LOW = 50         # ... which it reaches at 50 s

# RFC 1628 traps (upsTraps) and what they carry.
TRAPS_OID = "1.3.6.1.2.1.33.2"
ALARM_ID, ALARM_DESCR = RFC + ".6.2.1.1", RFC + ".6.2.1.2"   # upsAlarmTable columns
WELL_KNOWN = RFC + ".6.3"                                   # upsWellKnownAlarms
ON_BATTERY_ALARM, LOW_BATTERY_ALARM = 1, 2                  # their upsAlarmId here


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


# The battery low trap goes with the first second the card says LB.
assert (ups_state(BATTERY_LOW - 1)[RFC + ".2.1.0"],
        ups_state(BATTERY_LOW)[RFC + ".2.1.0"]) == (2, 3)


def wan_state(t):
    return {OPER_WAN: 2 if LINK_DOWN <= t < LINK_UP else 1}


# The environment sensors behind the demo's Modbus gateway (demo-sensors.py).
ENV_UNIT, LEAK_UNIT = 1, 3
# env1's temperature (degC) from these seconds on: the air conditioning stops
# with the mains at 20 s and starts again when it returns at 70 s.
TEMPERATURE = [(0, 23.5), (MAINS_FAIL, 24.8), (30, 26.9), (40, 28.7), (50, 31.2),
               (60, 32.4), (75, 29.1), (85, 26.3), (95, 24.0), (105, 23.5)]
HUMIDITY = 45.0          # %RH at the first temperature
LEAK, LEAK_CLEARED = 45, 60
LEAK_AT = 12             # m along the cable
LEAK_BIT, ALARM_BIT = 1 << 0, 1 << 3    # Aqualeak 10K status word (30001)


def saturation(celsius):
    """Water vapour pressure of saturated air (hPa, Magnus formula)."""
    return 6.112 * math.exp(17.62 * celsius / (243.12 + celsius))


def env_state(t):
    """env1's readings at t seconds: (degC, %RH), to the tenth."""
    temp = [v for at, v in TEMPERATURE if at <= t][-1]
    rh = HUMIDITY * saturation(TEMPERATURE[0][1]) / saturation(temp)
    return temp, round(rh, 1)


def modbus_state(t):
    """What the gateway's registers hold at t seconds: {unit: (first protocol
    address, [raw values]), ...} and what that means, per unit."""
    temp, rh = env_state(t)
    leak = LEAK <= t < LEAK_CLEARED
    env = (1, [int(round(temp * 10)) & 0xffff, int(round(rh * 10))])
    # 30001 status bits and 30002 leak distance: protocol addresses 0 and 1.
    cable = (0, [LEAK_BIT | ALARM_BIT if leak else 0, LEAK_AT if leak else 0])
    return ({ENV_UNIT: env, LEAK_UNIT: cable},
            {ENV_UNIT: "env1: %.1f degC, %.1f %%RH" % (temp, rh),
             LEAK_UNIT: "leak1: leak %d m along the cable" % LEAK_AT if leak
             else "leak1: no leak"})


def alarm(trap, name, alarm_id, well_known):
    """upsTrapAlarmEntryAdded (3) or Removed (4) for one alarm table entry."""
    return (name, TRAPS_OID + ".%d" % trap,
            [(ALARM_ID + ".%d" % alarm_id, "i", alarm_id),
             (ALARM_DESCR + ".%d" % alarm_id, "o", WELL_KNOWN + ".%d" % well_known)])


def ups_traps(t):
    """The traps ups1's card sends at t seconds, after the SET: [(what, OID,
    [(varbind OID, type, value)])]."""
    s = ups_state(t)
    if t == MAINS_FAIL:
        # upsTrapOnBattery: upsEstimatedMinutesRemaining, upsSecondsOnBattery,
        # upsConfigLowBattTime.
        return [("upsTrapOnBattery", TRAPS_OID + ".1",
                 [(RFC + ".2.3.0", "i", s[RFC + ".2.3.0"]),
                  (RFC + ".2.2.0", "i", s[RFC + ".2.2.0"]),
                  (RFC + ".9.7.0", "i", 2)])]
    if t == BATTERY_LOW:
        # upsAlarmLowBattery (well-known alarm 3)
        return [alarm(3, "upsTrapAlarmEntryAdded (upsAlarmLowBattery)",
                      LOW_BATTERY_ALARM, 3)]
    if t == MAINS_BACK:
        # The low battery alarm goes with mains, then the on battery one
        # (well-known alarm 2): the last trap sonae shows says mains is back.
        return [alarm(4, "upsTrapAlarmEntryRemoved (upsAlarmLowBattery)",
                      LOW_BATTERY_ALARM, 3),
                alarm(4, "upsTrapAlarmEntryRemoved (upsAlarmOnBattery)",
                      ON_BATTERY_ALARM, 2)]
    return []


EVENTS = [
    (0, "mains on: ups1 on line (upsOutputSource 3), battery full; LGWAN uplink up"),
    (MAINS_FAIL, "mains fails: ups1 on battery (upsOutputSource 5); the air "
     "conditioning stops"),
    (LINK_DOWN, "the LGWAN uplink goes down (wan1 ifOperStatus.1 = 2)"),
    (LEAK, "water under the raised floor"),
    (BATTERY_LOW, "ups1 battery low (upsBatteryStatus 3)"),
    (CARD_SILENT, "ups1's SNMP card stops answering"),
    (LEAK_CLEARED, "the leak under the floor is cleared"),
    (CARD_BACK, "ups1's SNMP card answers again"),
    (MAINS_BACK, "mains returns: ups1 on line (upsOutputSource 3), recharging; "
     "the air conditioning restarts"),
    (LINK_UP, "the LGWAN uplink is back (wan1 ifOperStatus.1 = 1)"),
]


# The operator on duty: what the ICT team does through `sonae` as the story
# goes (with --sonae and --socket), as in the timeline above.  An act is
# tried at its second of the story, then every second until what it needs is
# there (the run, the step waiting for an answer), for PATIENCE seconds at
# most; the newest run of the playbook that fits is the one acted on (a
# longer demo has one run per round of the story).  The drill is only the
# first time round.
class Act:
    """verb (drill, confirm or abort) playbook's run (step: the one to
    answer, or where the run must be to be stopped) at second at, with text;
    after: only once an incident of that rule is open (what the operator
    reacts to)."""

    def __init__(self, at, verb, playbook, step=None, yes=True, drill=False, text="",
                 after=None, staff=None, once=False):
        self.at, self.verb, self.playbook, self.step = at, verb, playbook, step
        self.yes, self.drill, self.text, self.after = yes, drill, text, after
        # verb "staff": the words after `sonae staff set`; once: only the
        # first time round (as drills are).
        self.staff, self.once = staff, once or drill


DRILL, DRILL_APPROVE, DRILL_END = 4, 9, 15
SATO_ILL, TANAKA_ILL, SATO_BACK = 7, 11, 84
FACILITIES, ROOM = 31, 40
NO_SHUTDOWN, BATTERY_EXIT = MAINS_BACK + 2, MAINS_BACK + 6
MAINS_STABLE, VENDOR, OUTAGE_EXIT = MAINS_BACK + 8, MAINS_BACK + 10, MAINS_BACK + 12
PATIENCE = 20
OPERATOR = [
    Act(DRILL, "drill", "battery-critical", drill=True,
        text="訓練: 計画停止の手順を確認 (drill: rehearse the orderly shutdown)"),
    Act(DRILL_APPROVE, "confirm", "battery-critical", "approve", drill=True,
        text="訓練: 承認 (drill: approved)"),
    Act(DRILL_END, "abort", "battery-critical", "charged", drill=True,
        text="訓練終了: 停止の手順を確認した (drill over: the shutdown steps were checked)"),
    # Two of the six fall ill before mains fails: the mode becomes reduced.
    Act(SATO_ILL, "staff", None, staff=["sato", "unavailable", "--until", "5d"], once=True,
        text="インフルエンザで出勤停止 (flu: off work)"),
    Act(TANAKA_ILL, "staff", None, staff=["tanaka", "unavailable"], once=True,
        text="発熱のため休み (off with a fever)"),
    Act(SATO_BACK, "staff", None, staff=["sato", "available"], once=True,
        text="回復して出勤 (recovered, back at work)"),
    Act(FACILITIES, "confirm", "power-outage", "facilities",
        text="全館停電、復旧見込みは未定 (the whole building is out, no time given yet)"),
    Act(ROOM, "confirm", "power-outage", "room", after="inlet-temperature",
        text="空調停止、非常灯点灯、UPSはバッテリー運転 (air conditioning off, "
        "emergency lights on, UPS on battery)"),
    Act(NO_SHUTDOWN, "confirm", "battery-critical", "approve", yes=False,
        text="復電した (mains is back)"),
    Act(BATTERY_EXIT, "confirm", "battery-critical", "exit",
        text="計画停止は不要だった (no shutdown was needed)"),
    # The playbook waits for mains to hold 5 minutes, longer than the demo:
    # the operator ends the wait, as facilities vouch for the mains.
    Act(MAINS_STABLE, "confirm", "power-outage", "mains",
        text="庁舎管理: 商用電源は安定 (facilities: mains is stable)"),
    Act(VENDOR, "confirm", "power-outage", "vendor",
        text="UPS保守事業者に点検を依頼 (the UPS vendor will check it)"),
    Act(OUTAGE_EXIT, "confirm", "power-outage", "exit",
        text="復電、UPS充電中、全機器応答 (mains back, UPS charging, every device answering)"),
]
# A real run waiting at one of these (each one's "yes" is a shutdown, which
# the demo machine has no hosts for) a minute after it was asked is
# answered "no": a safety net for demos run for hours, or an operator's act
# that came to nothing.
GUARD_AFTER = 60
GUARDED = {
    ("battery-critical", "approve"): "デモ: 停止するホストはない (demo: no hosts to shut down)",
    ("cooling-failure", "shed"): "デモ: 停止するホストはない (demo: no hosts to shut down)",
}

# The room is looked at once the inlet's incident says it is above 27 degC
# (2 of 3 readings, 2 s apart, from 40 s): power-outage's heat step, next,
# finds it so.  The shutdown is refused before its default, and after mains
# returned.
assert env_state(ROOM)[0] > 27 and FACILITIES < ROOM
assert MAINS_BACK <= NO_SHUTDOWN < BATTERY_LOW + 120 and NO_SHUTDOWN < BATTERY_EXIT
assert BATTERY_LOW + GUARD_AFTER > NO_SHUTDOWN
assert DRILL < DRILL_APPROVE < DRILL_END < MAINS_FAIL
# The mode is reduced before the power outage's first mail (about 20 s after
# mains fails), and back to normal (30 s after Sato is back) before 120 s.
assert SATO_ILL < TANAKA_ILL < MAINS_FAIL and SATO_BACK + 30 < PERIOD


class Operator:
    """`sonae` as the operator runs it: argv is the command and its socket
    option ([BIN, "-s", PATH])."""

    def __init__(self, argv):
        self.argv = list(argv)

    def sonae(self, *args):
        """(exit status, what it printed on stdout, on stderr)."""
        try:
            r = subprocess.run(self.argv + list(args), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        except subprocess.TimeoutExpired:
            return 1, "", "no answer within 10 s"
        return (r.returncode, r.stdout.decode("utf-8", "replace").strip(),
                r.stderr.decode("utf-8", "replace").strip())

    def runs(self):
        """The runs under way and ended lately (sonae --json runs), newest
        first; None when sonaed does not answer."""
        rc, out, _ = self.sonae("--json", "runs")
        if rc != 0:
            return None
        return json.loads(out)["runs"]

    @staticmethod
    def find(act, runs):
        """The run act is for, or None while there is none."""
        for r in runs:
            if (r["playbook"], r["drill"], r["state"]) != (act.playbook, act.drill, "running"):
                continue
            if act.verb == "confirm" and any(w["id"] == act.step and not w["unknown"]
                                             for w in r["waiting"]):
                return r
            if act.verb == "abort" and (r["step"] or {}).get("id") == act.step:
                return r
            # A wait the operator ends: the step under way.
            step = r["step"] or {}
            if act.verb == "confirm" and (step.get("id"), step.get("type")) == (act.step, "wait"):
                return r
        return None

    def attempt(self, act, run=None):
        """Do act if it can be done now, to run or else the one find()
        finds: the line for the story's log (what was typed and what sonae
        said), or None when not yet."""
        if act.after is not None:
            rc, out, _ = self.sonae("--json", "incidents")
            if rc != 0 or not any(i["rule"] == act.after for i in json.loads(out)["incidents"]):
                return None
        if act.verb == "staff":
            argv = ["staff", "set"] + act.staff + ["-m", act.text]
        elif act.verb == "drill":
            argv = ["drill", act.playbook, "-m", act.text]
        else:
            r = run
            if r is None:
                runs = self.runs()
                r = None if runs is None else self.find(act, runs)
            if r is None:
                return None
            argv = [act.verb, str(r["id"])]
            if act.verb == "confirm":
                argv += [act.step] + ([] if act.yes else ["--no"])
            argv += ["-m", act.text]
        rc, out, err = self.sonae(*argv)
        typed = "sonae " + " ".join('"%s"' % a if " " in a else a for a in argv)
        return "operator: %s: %s" % (typed, out if rc == 0 else "refused: " + err)

    def guard(self, now=None):
        """Answer "no" for every real run that waited at a GUARDED step for
        GUARD_AFTER seconds: the lines for the story's log."""
        runs = self.runs() or []
        now = now or datetime.datetime.now(datetime.timezone.utc)
        said = []
        for r in runs:
            for w in r["waiting"]:
                why = GUARDED.get((r["playbook"], w["id"]))
                if (why is None or r["drill"] or w["unknown"] or
                        (now - datetime.datetime.fromisoformat(w["since"])).total_seconds()
                        < GUARD_AFTER):
                    continue
                said.append(self.attempt(Act(0, "confirm", r["playbook"], w["id"],
                                             yes=False, text=why), run=r))
        return said


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


def modbus_write(peer, unit, first, values):
    """Write holding registers first.. of unit (function 16); None when done,
    else why not."""
    from pymodbus.client import ModbusTcpClient   # pylint: disable=import-outside-toplevel
    host, port = peer.rsplit(":", 1)
    client = ModbusTcpClient(host, port=int(port), timeout=1, retries=0)
    try:
        if not client.connect():
            return "cannot connect"
        r = client.write_registers(first, values, slave=unit)
        return str(r) if r.isError() else None
    except Exception as e:   # pylint: disable=broad-except
        return str(e)
    finally:
        client.close()


def snmptrap(peer, community, trap, env):
    """One SNMPv2c trap to peer; what happened, for the story's log."""
    what, oid, varbinds = trap
    argv = ["snmptrap", "-v2c", "-c", community, peer, "", oid]
    for o, typ, v in varbinds:
        argv += [o, typ, str(v)]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env)
    # net-snmp says when it makes its folders in SNMP_PERSISTENT_DIR: not a fault.
    err = "\n".join(l for l in r.stderr.decode("utf-8", "replace").splitlines()
                    if l.strip() and not l.startswith("Created directory:"))
    if r.returncode != 0 or err:
        return "snmptrap %s to %s failed: %s" % (what, peer,
                                                   err or "exit %d" % r.returncode)
    return "trap %s sent to %s" % (what, peer)


start = time.monotonic()


def say(text):
    print("t+%ds  %s" % (int(time.monotonic() - start), text), flush=True)


def main():
    args = sys.argv[1:]
    opts = {"--traps": None, "--trap-community": "demo", "--modbus": None, "--sonae": None,
            "--socket": None}
    while args and args[0].split("=", 1)[0] in opts and "=" in args[0]:
        k, v = args.pop(0).split("=", 1)
        opts[k] = v
    if len(args) not in (3, 4):
        sys.stderr.write(__doc__.split("usage: ")[1].split("\n")[0] + "\n")
        return 2
    if (opts["--sonae"] is None) != (opts["--socket"] is None):
        sys.stderr.write("demo-story.py: --sonae and --socket go together\n")
        return 2
    ups_peer, wan_peer, ups_pid = args[0], args[1], int(args[2])
    seconds = float(args[3]) if len(args) == 4 else float("inf")
    # snmptrap reads and writes net-snmp's configuration and persistent
    # files: a folder of its own keeps the user's and the system's out.
    snmpdir = tempfile.mkdtemp(prefix="sonae-demo-snmptrap-")
    traps = (opts["--traps"], opts["--trap-community"],
             dict(os.environ, MIBS="", SNMPCONFPATH=snmpdir, SNMP_PERSISTENT_DIR=snmpdir))
    try:
        operator = None if opts["--sonae"] is None else Operator(
            [opts["--sonae"], "-s", opts["--socket"]])
        return story(ups_peer, wan_peer, ups_pid, seconds, traps, opts["--modbus"], operator)
    finally:
        shutil.rmtree(snmpdir, ignore_errors=True)


def story(ups_peer, wan_peer, ups_pid, seconds, traps, modbus_peer, operator=None):
    trap_peer, trap_community, trap_env = traps
    # The client logs every refused connection; a failed write is said here.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
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

    sent = {"ups": {}, "wan": {}, "modbus": {}}
    acts = []    # the operator's acts of this round not done yet
    tick = 0
    while tick < seconds:
        t = tick % PERIOD
        if t == 0 and operator is not None:
            acts = [a for a in OPERATOR if tick == 0 or not a.once]
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
            if dev == "ups" and trap_peer is not None:
                for trap in ups_traps(t):
                    say(snmptrap(trap_peer, trap_community, trap, trap_env))
        if modbus_peer is not None:
            registers, meaning = modbus_state(t)
            for unit, (first, values) in sorted(registers.items()):
                if sent["modbus"].get(unit) == (first, values):
                    continue
                err = modbus_write(modbus_peer, unit, first, values)
                what = "unit %d registers %d-%d = %s" % (
                    unit, first, first + len(values) - 1,
                    " ".join(str(v) for v in values))
                if err is None:
                    sent["modbus"][unit] = (first, values)
                    say("%s (Modbus %s)" % (meaning[unit], what))
                else:
                    say("Modbus write to %s %s failed: %s" % (modbus_peer, what, err))
        for act in [a for a in acts if a.at <= t]:
            line = operator.attempt(act)
            if line is None and t < act.at + PATIENCE:
                continue
            acts.remove(act)
            say(line or "operator: gave up after %d s: no %srun of %s %s %s%s" % (
                PATIENCE, "drill " if act.drill else "", act.playbook,
                "waits at" if act.verb == "confirm" else "is at", act.step,
                "" if act.after is None else " (or no %s incident)" % act.after))
        if operator is not None and tick % 5 == 0:
            for line in operator.guard():
                say(line)
        tick += 1
        time.sleep(max(0.0, start + tick - time.monotonic()))
    resume()
    return 0


if __name__ == "__main__":
    sys.exit(main())
