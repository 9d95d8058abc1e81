#!/bin/sh
# The demo site: sonaed watching a simulated server room.  The UPS (ups1) and
# the WAN edge switch (wan1) are SNMP agents: one snmpsimd each on 127.0.0.1,
# serving etc/demo/ups1.snmprec and etc/demo/wan1.snmprec.  scripts/demo-story.py
# changes their values over SNMP (snmpset) on a 120 s timeline: mains fails,
# the UPS goes on battery and runs low, the LGWAN uplink drops, the UPS card
# stops answering for a while, mains and the uplink come back.  The UPS's
# card also sends its RFC 1628 traps (snmptrap) to sonaed's trap receiver:
# ups1 is polled every 15 s, and a trap makes sonaed poll it at once.  The
# temperature sensor (env1, an XY-MD02) and the leak cable (leak1, an Aqualeak
# 10K) are Modbus devices, units 1 and 3 behind one simulated Modbus TCP
# gateway (scripts/demo-sensors.py, pymodbus, on 127.0.0.1); the story writes
# the room heating up and a leak into its registers on the same timeline.
# The screen shows what an operator sees through `sonae`, and the incidents
# the rules and checks of etc/demo/sonae.conf open: one for the power
# failure, with the LGWAN uplink and the silent UPS card folded into it; the
# low battery, the leak and the heat each their own.
#
# The alerts land in a local mail sink: the relay of etc/demo/sonae.conf is
# tests/integration/smtp_server.py (aiosmtpd) on 127.0.0.1, which keeps every
# mail it accepts in the demo's folder, Maildir/new.  The demo first sends one
# TEST mail (`sonae notify-test`), as a site tries its mail path; the story's
# first alert, the power outage with the uplink folded in, leaves about 40 s
# in (its route waits 15 s for what the power failure takes down with it).
# The screen shows `sonae queue` and the sink's last mails; at the end the
# list of them all.  Read them with scripts/demo-mail.py DIR [N].
#
# The incidents start the shipped playbooks (etc/demo/sonae.conf, playbooks),
# and the story is also the operator on duty, who answers their human steps
# with `sonae confirm` (and rehearses the orderly shutdown first, with
# `sonae drill battery-critical`, whose notices mail only the drill address).
# The screen shows `sonae runs`, and `sonae run-status` of the drill, then of
# the power outage's run and the low battery's, whenever a checklist
# changed; at the end `sonae runs --all` and the last two checklists.  The
# power outage's run still waits for mains (5 minutes back on line) when
# the demo ends; the low battery's shutdown was refused once mains returned,
# and nothing in the demo shuts anything down (see the playbooks group of
# etc/demo/sonae.conf).
#
# The ICT unit is short-staffed: the story marks Sato (on duty) and Tanaka
# ill before mains fails, 2 of 6 absent, and the operating mode becomes
# reduced on its own (every staff member is mailed why); the power
# outage's mails then go to everyone available at once, the UPS vendor
# copied, and the class-2 sensors' problems wait for the daily digest.
# Sato is back at 84 s: the mode steps down to normal 30 s later, and that
# mail lists the work the reduced mode put off.  The screen shows the head
# of `sonae mode`; at the end `sonae mode`, `sonae staff`, and the reports
# (`sonae report`): the power outage's after-action report, the drill's and
# the self-inspection, as HTML and Markdown in the demo folder's reports/.
# The demo stops if the story does.
#
# usage: scripts/demo.sh [SECONDS]   (default 130: one full story cycle)
#
# The agents listen on the fixed ports of etc/demo/sonae.conf, UDP 16161
# (ups1) and 16162 (wan1), sonaed's trap receiver on UDP 16163, the Modbus
# gateway on TCP 15020 and the mail sink on TCP 10025; the demo stops with a
# clear message when one is taken.
# Environment, for tests (the defaults suit a person at a terminal):
#   SONAE_DEMO_BIN=DIR          sonaed and sonae from DIR; skips setup.sh and build.sh
#   SONAE_DEMO_DIR=DIR          the demo's folder (default demo-site/ here), recreated
#   SONAE_DEMO_UPS_PORT=PORT    other ports for the agents, the trap receiver,
#   SONAE_DEMO_WAN_PORT=PORT    the Modbus gateway and the mail sink (written
#   SONAE_DEMO_TRAP_PORT=PORT   into the demo folder's copy of sonae.conf)
#   SONAE_DEMO_MODBUS_PORT=PORT
#   SONAE_DEMO_SMTP_PORT=PORT
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
if [ -n "${SONAE_DEMO_BIN:-}" ]; then
	bin=$SONAE_DEMO_BIN
else
	./scripts/setup.sh
	./scripts/build.sh build
	bin=$top/build/monitor
fi

site=${SONAE_DEMO_DIR:-$top/demo-site}
seconds=${1:-130}
ups_port=${SONAE_DEMO_UPS_PORT:-16161}
wan_port=${SONAE_DEMO_WAN_PORT:-16162}
trap_port=${SONAE_DEMO_TRAP_PORT:-16163}
modbus_port=${SONAE_DEMO_MODBUS_PORT:-15020}
smtp_port=${SONAE_DEMO_SMTP_PORT:-10025}

die() {
	echo "demo: $*" >&2
	exit 1
}

# port_free udp|tcp PORT.  A TCP port is taken only by a listener: the
# connections a server closed first linger in TIME_WAIT for a minute, and
# SO_REUSEADDR, which the servers here set too (asyncio's default), binds
# past them, so a demo run again at once finds its ports free.
port_free() {
	/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET,
                  socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
if sys.argv[1] == "tcp":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[2])))' "$1" "$2" 2>/dev/null
}
for p in "udp $ups_port SONAE_DEMO_UPS_PORT ups1's simulated agent" \
	"udp $wan_port SONAE_DEMO_WAN_PORT wan1's simulated agent" \
	"udp $trap_port SONAE_DEMO_TRAP_PORT sonaed's trap receiver" \
	"tcp $modbus_port SONAE_DEMO_MODBUS_PORT the simulated Modbus gateway" \
	"tcp $smtp_port SONAE_DEMO_SMTP_PORT the demo's mail sink"; do
	set -- $p
	proto=$1 port=$2 var=$3
	shift 3
	port_free "$proto" "$port" ||
		die "$(echo "$proto" | tr a-z A-Z) 127.0.0.1:$port (for $*) is in use" \
			"(another demo running? see: ss -${proto%"${proto#?}"}lpn 'sport = :$port');" \
			"free it or set $var"
done
[ "$ups_port" != "$wan_port" ] && [ "$ups_port" != "$trap_port" ] &&
	[ "$wan_port" != "$trap_port" ] ||
	die "the agents and the trap receiver need three different ports" \
		"($ups_port, $wan_port, $trap_port)"
[ "$modbus_port" != "$smtp_port" ] ||
	die "the Modbus gateway and the mail sink need two different ports ($smtp_port)"

rm -rf "$site"
mkdir -p "$site"
cp etc/demo/*.conf "$site/"
# The Modbus devices' profiles, next to the copy of sonae.conf as in an
# installed /etc/sonae (sonae.conf names them ../profiles/modbus/ in etc/demo).
mkdir "$site/profiles"
cp -R etc/profiles/modbus "$site/profiles/"
# The shipped playbooks likewise (sonae.conf names them ../playbooks).
cp -R playbooks/library "$site/playbooks"
cat > "$site/runtime.conf" <<CONF
daemon: { state_dir = "$site/state"; snapshot_interval = "2s"; };
control: { socket = "$site/sonae.sock"; };
CONF
# One sed, one substitution per line at most (t ends the line's script): a
# port given for one address is never rewritten again as another's.  An
# address is a whole string: "udp:127.0.0.1:16161", the relay's url
# "smtp://127.0.0.1:10025" ("|" delimits, for the url's slashes).
subst=""
for p in "udp: 16161 $ups_port" "udp: 16162 $wan_port" "udp: 16163 $trap_port" \
	"tcp: 15020 $modbus_port" "smtp:// 10025 $smtp_port"; do
	set -- $p
	grep -qF "\"${1}127.0.0.1:$2\"" "$site/sonae.conf" ||
		die "etc/demo/sonae.conf no longer has the address ${1}127.0.0.1:$2"
	subst="$subst s|\"${1}127\.0\.0\.1:$2\"|\"${1}127.0.0.1:$3\"|;t
"
done
grep -q '"\.\./profiles/modbus/' "$site/sonae.conf" ||
	die "etc/demo/sonae.conf no longer names its profiles ../profiles/modbus/"
subst="$subst s|\"\.\./profiles/modbus/|\"profiles/modbus/|;t
"
grep -q 'dir = "\.\./playbooks";' "$site/sonae.conf" ||
	die "etc/demo/sonae.conf no longer names its playbooks ../playbooks"
subst="$subst s|dir = \"\.\./playbooks\";|dir = \"playbooks\";|;t
"
sed "$subst" "$site/sonae.conf" >"$site/sonae.conf.tmp"
mv "$site/sonae.conf.tmp" "$site/sonae.conf"

sonae() { "$bin/sonae" -s "$site/sonae.sock" "$@"; }

# Everything started here is stopped by its PID, in reverse order.
pid="" ups_pid="" wan_pid="" modbus_pid="" smtp_pid="" story_pid="" sim=""
stop() {
	for p in $story_pid $pid $smtp_pid $modbus_pid $wan_pid $ups_pid; do
		kill -CONT "$p" 2>/dev/null || true # a paused agent must see the TERM
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
	done
	story_pid="" pid="" smtp_pid="" modbus_pid="" wan_pid="" ups_pid=""
	[ -z "$sim" ] || rm -rf "$sim"
	sim=""
}
trap 'stop; exit 130' INT TERM
trap stop EXIT

# snmpsimd drops to nobody when started as root, before it reads its data:
# its folders live under /tmp, where nobody can reach them (a clone under
# /root could not be read).
sim=$(mktemp -d /tmp/sonae-demo-snmpsim.XXXXXX)
chmod 755 "$sim"
mkdir "$sim/variation"
cp etc/demo/snmpsim/*.py "$sim/variation/"
chmod 755 "$sim/variation"
chmod 644 "$sim"/variation/*.py

# start_sim NAME PORT: one snmpsimd serving etc/demo/NAME.snmprec (community
# NAME); its PID in $!.
start_sim() {
	d=$sim/$1
	mkdir "$d" "$d/data" "$d/cache"
	cp "etc/demo/$1.snmprec" "$d/data/"
	chmod 755 "$d" "$d/data"
	chmod 644 "$d/data/$1.snmprec"
	chmod 777 "$d/cache"
	set -- "$1" --data-dir="$d/data" --cache-dir="$d/cache" \
		--variation-modules-dir="$sim/variation" \
		--agent-udpv4-endpoint="127.0.0.1:$2" --logging-method=null
	if [ "$(id -u)" -eq 0 ]; then
		set -- "$@" --process-user=nobody --process-group=nogroup
	fi
	name=$1
	shift
	snmpsimd "$@" >"$site/snmpsimd-$name.log" 2>&1 &
}

# wait_sim NAME PORT PID: until the agent answers (about half a second).
wait_sim() {
	i=0
	until MIBS= snmpget -v2c -c "$1" -r0 -t0.3 "127.0.0.1:$2" 1.3.6.1.2.1.1.3.0 \
		>/dev/null 2>&1; do
		kill -0 "$3" 2>/dev/null ||
			{ cat "$site/snmpsimd-$1.log" >&2; die "snmpsimd for $1 exited"; }
		i=$((i + 1))
		[ $i -lt 100 ] || die "snmpsimd for $1 does not answer on 127.0.0.1:$2"
		sleep 0.1
	done
}

start_sim ups1 "$ups_port"
ups_pid=$!
start_sim wan1 "$wan_port"
wan_pid=$!
# The Modbus gateway with env1 (unit 1) and leak1 (unit 3) behind it; it says
# "ready" once it listens (in about 0.3 s).
/usr/bin/python3 "$top/scripts/demo-sensors.py" "127.0.0.1:$modbus_port" \
	>"$site/modbus.log" 2>&1 &
modbus_pid=$!
wait_sim ups1 "$ups_port" "$ups_pid"
wait_sim wan1 "$wan_port" "$wan_pid"
i=0
until grep -q '^ready$' "$site/modbus.log"; do
	kill -0 "$modbus_pid" 2>/dev/null ||
		{ cat "$site/modbus.log" >&2; die "the Modbus gateway (demo-sensors.py) exited"; }
	i=$((i + 1))
	[ $i -lt 100 ] || die "the Modbus gateway does not start on 127.0.0.1:$modbus_port"
	sleep 0.1
done

# The mail sink: the relay of sonae.conf, an SMTP server (aiosmtpd) that keeps
# every mail it accepts as a file in $site/Maildir/new; it says "ready PORT"
# once it serves.
/usr/bin/python3 "$top/tests/integration/smtp_server.py" --plain \
	--maildir "$site/Maildir" --port "$smtp_port" >"$site/smtp.log" 2>&1 &
smtp_pid=$!
i=0
until grep -q "^ready $smtp_port\$" "$site/smtp.log"; do
	kill -0 "$smtp_pid" 2>/dev/null ||
		{ cat "$site/smtp.log" >&2; die "the mail sink (smtp_server.py) exited"; }
	i=$((i + 1))
	[ $i -lt 100 ] || die "the mail sink does not start on 127.0.0.1:$smtp_port"
	sleep 0.1
done
# mail_count: how many mails the sink holds.
mail_count() {
	set -- "$site/Maildir/new"/*
	[ -e "$1" ] && echo $# || echo 0
}
mails() {
	n=$(mail_count)
	[ "$n" -eq 1 ] && echo "1 mail" || echo "$n mails"
}

"$bin/sonaed" -f -c "$site/sonae.conf" 2>"$site/sonaed.log" &
pid=$!

i=0
until sonae status >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "sonaed did not start:" >&2; cat "$site/sonaed.log" >&2; exit 1; }
	sleep 0.1
done
# The mail path first, as a site tries it once it is set up: one TEST mail
# through the spool and the relay to the routes' people (journaled).
sonae notify-test >/dev/null

# The story is also the operator on duty: it answers the playbooks' human
# steps with this sonae, on this socket.
/usr/bin/python3 "$top/scripts/demo-story.py" --traps="127.0.0.1:$trap_port" \
	--modbus="127.0.0.1:$modbus_port" --sonae="$bin/sonae" --socket="$site/sonae.sock" \
	"127.0.0.1:$ups_port" "127.0.0.1:$wan_port" "$ups_pid" >"$site/story.log" 2>&1 &
story_pid=$!

# runs_of PLAYBOOK:real|drill...: the newest run of each PLAYBOOK (for an
# incident, or a drill) that there is, by id.
runs_of() {
	sonae --json runs --all 2>/dev/null | /usr/bin/python3 -c 'import json, sys
runs = json.load(sys.stdin)["runs"]
for want in sys.argv[1:]:
    name, kind = want.split(":")
    for r in runs:
        if r["playbook"] == name and r["drill"] == (kind == "drill"):
            print(r["id"])
            break' "$@" || true
}
# show_run RUN: its whole `sonae run-status` when its checklist changed since
# the screen last showed it (and the first time), else one line.  The screen
# follows power-outage's run and battery-critical's once the power fails,
# the drill before.
show_run() {
	checklist=$(sonae run-status "$1" | grep '^\[' || true)
	if [ "$checklist" != "$(cat "$sim/run-$1" 2>/dev/null)" ]; then
		printf '%s\n' "$checklist" >"$sim/run-$1"
		echo $(($(date +%s) - start)) >"$sim/run-$1.at"
		echo
		echo "\$ sonae run-status $1"
		sonae run-status "$1"
	else
		echo "(run $1: its checklist as shown at t+$(cat "$sim/run-$1.at")s;" \
			"sonae run-status $1)"
	fi
}

start=$(date +%s)
while [ $(($(date +%s) - start)) -lt "$seconds" ]; do
	[ -t 1 ] && printf '\033[H\033[2J'
	echo "== sonae demo: t+$(($(date +%s) - start))s of ${seconds}s (Ctrl-C stops) =="
	echo "incidents in another terminal: $bin/sonae -s $site/sonae.sock" \
		"incidents | incident ID | checks"
	echo "story (over SNMP and Modbus, $site/story.log):"
	tail -n 4 "$site/story.log" | sed 's/^/  /'
	echo
	echo "\$ sonae status"
	sonae status
	echo
	echo "\$ sonae mode | head -n 3"
	sonae mode | head -n 3
	echo
	echo "\$ sonae incidents"
	sonae incidents
	echo
	echo "\$ sonae runs"
	sonae runs
	watch=$(runs_of power-outage:real battery-critical:real)
	[ -n "$watch" ] || watch=$(runs_of battery-critical:drill)
	for run in $watch; do
		show_run "$run"
	done
	echo
	echo "\$ sonae queue | head -n 5"
	sonae queue | head -n 5
	echo "mail sink: $(mails) in $site/Maildir/new"
	/usr/bin/python3 "$top/scripts/demo-mail.py" "$site/Maildir" | tail -n 3
	echo
	echo "\$ sonae devices"
	sonae devices
	echo
	echo "\$ sonae device ups1"
	sonae device ups1 | tail -n +7
	echo
	echo "\$ sonae device wan1 | grep lgwan_"
	sonae device wan1 | grep -E '^lgwan_(state|in_bps|out_bps) ' || true
	echo
	echo "\$ sonae device env1 | grep -E '^(temperature|humidity) '"
	sonae device env1 | grep -E '^(temperature|humidity) ' || true
	echo "\$ sonae device leak1 | grep -E '^leak'"
	sonae device leak1 | grep -E '^leak' || true
	echo
	kill -0 "$story_pid" 2>/dev/null ||
		{ cat "$site/story.log" >&2; die "the story (demo-story.py) stopped"; }
	sleep 3
done

echo "\$ sonae incidents --all"
sonae incidents --all
echo
echo "\$ sonae runs --all"
sonae runs --all
for run in $(runs_of power-outage:real battery-critical:real); do
	echo
	echo "\$ sonae run-status $run"
	sonae run-status "$run"
done
echo
echo "\$ sonae mode"
sonae mode
echo
echo "\$ sonae staff"
sonae staff
echo
echo "\$ sonae traps"
sonae traps
echo
echo "\$ sonae audit"
sonae audit
echo "\$ sonae audit verify"
sonae audit verify
echo
echo "\$ sonae queue"
sonae queue
# The reports an ICT unit hands on after the event (docs/reports.md): the
# power outage's after-action report, the drill's and the self-inspection,
# each one HTML file (open it in a browser, print it) and its Markdown.
power=$(sonae --json incidents --all 2>/dev/null | /usr/bin/python3 -c 'import json, sys
ids = [i["id"] for i in json.load(sys.stdin)["incidents"] if i["rule"] == "power-outage"]
print(min(ids) if ids else "")' || true)
drill=$(runs_of battery-critical:drill)
echo
for what in ${power:+"incident $power"} ${drill:+"drill $drill"} inspection; do
	echo "\$ sonae report $what -o $site/reports"
	# shellcheck disable=SC2086
	sonae report $what -o "$site/reports" || true
done
stop
echo
echo "mail sink: $(mails) in $site/Maildir/new"
/usr/bin/python3 "$top/scripts/demo-mail.py" "$site/Maildir"
[ "$(mail_count)" -eq 0 ] || echo "read one: scripts/demo-mail.py $site/Maildir 1"
echo
echo "The demo site is in $site (logs: sonaed.log, story.log, modbus.log," \
	"smtp.log; journal, snapshot and mail spool: state/; mail: Maildir/)."
