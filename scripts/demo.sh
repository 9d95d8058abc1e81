#!/bin/sh
# The demo site: sonaed watching a simulated server room.  The UPS (ups1) and
# the WAN edge switch (wan1) are SNMP agents: one snmpsimd each on 127.0.0.1,
# serving etc/demo/ups1.snmprec and etc/demo/wan1.snmprec.  scripts/demo-story.py
# changes their values over SNMP (snmpset) on a 120 s timeline: mains fails,
# the UPS goes on battery and runs low, the LGWAN uplink drops, the UPS card
# stops answering for a while, mains and the uplink come back.  The UPS's
# card also sends its RFC 1628 traps (snmptrap) to sonaed's trap receiver:
# ups1 is polled every 15 s, and a trap makes sonaed poll it at once.  The
# temperature sensor (env1) and the leak cable (leak1) play replay scenarios
# on the same timeline.  The screen shows what an operator sees through `sonae`.
#
# usage: scripts/demo.sh [SECONDS]   (default 130: one full story cycle)
#
# The agents listen on the fixed ports of etc/demo/sonae.conf, 16161 (ups1)
# and 16162 (wan1), and sonaed's trap receiver on 16163; the demo stops with a
# clear message when one is taken.
# Environment, for tests (the defaults suit a person at a terminal):
#   SONAE_DEMO_BIN=DIR         sonaed and sonae from DIR; skips setup.sh and build.sh
#   SONAE_DEMO_DIR=DIR         the demo's folder (default demo-site/ here), recreated
#   SONAE_DEMO_UPS_PORT=PORT   other ports for the agents and the trap
#   SONAE_DEMO_WAN_PORT=PORT   receiver (written into the demo folder's copy
#   SONAE_DEMO_TRAP_PORT=PORT  of sonae.conf)
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

die() {
	echo "demo: $*" >&2
	exit 1
}

port_free() {
	/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}
for p in "$ups_port SONAE_DEMO_UPS_PORT ups1's simulated agent" \
	"$wan_port SONAE_DEMO_WAN_PORT wan1's simulated agent" \
	"$trap_port SONAE_DEMO_TRAP_PORT sonaed's trap receiver"; do
	set -- $p
	port=$1 var=$2
	shift 2
	port_free "$port" || die "UDP 127.0.0.1:$port (for $*) is in use" \
		"(another demo running? see: ss -ulpn 'sport = :$port'); free it or set $var"
done
[ "$ups_port" != "$wan_port" ] && [ "$ups_port" != "$trap_port" ] &&
	[ "$wan_port" != "$trap_port" ] ||
	die "the agents and the trap receiver need three different ports" \
		"($ups_port, $wan_port, $trap_port)"

rm -rf "$site"
mkdir -p "$site"
cp etc/demo/*.conf etc/demo/*.replay "$site/"
cat > "$site/runtime.conf" <<CONF
daemon: { state_dir = "$site/state"; snapshot_interval = "2s"; };
control: { socket = "$site/sonae.sock"; };
CONF
# One sed, one substitution per line at most (t ends the line's script): a
# port given for one address is never rewritten again as another's.
subst=""
for p in "16161 $ups_port" "16162 $wan_port" "16163 $trap_port"; do
	set -- $p
	grep -q "\"udp:127.0.0.1:$1\"" "$site/sonae.conf" ||
		die "etc/demo/sonae.conf no longer has the address udp:127.0.0.1:$1"
	subst="$subst s/\"udp:127\.0\.0\.1:$1\"/\"udp:127.0.0.1:$2\"/;t
"
done
sed "$subst" "$site/sonae.conf" >"$site/sonae.conf.tmp"
mv "$site/sonae.conf.tmp" "$site/sonae.conf"

sonae() { "$bin/sonae" -s "$site/sonae.sock" "$@"; }

# Everything started here is stopped by its PID, in reverse order.
pid="" ups_pid="" wan_pid="" story_pid="" sim=""
stop() {
	for p in $story_pid $pid $wan_pid $ups_pid; do
		kill -CONT "$p" 2>/dev/null || true # a paused agent must see the TERM
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
	done
	story_pid="" pid="" wan_pid="" ups_pid=""
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
wait_sim ups1 "$ups_port" "$ups_pid"
wait_sim wan1 "$wan_port" "$wan_pid"

"$bin/sonaed" -f -c "$site/sonae.conf" 2>"$site/sonaed.log" &
pid=$!

i=0
until sonae status >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "sonaed did not start:" >&2; cat "$site/sonaed.log" >&2; exit 1; }
	sleep 0.1
done

/usr/bin/python3 "$top/scripts/demo-story.py" --traps="127.0.0.1:$trap_port" \
	"127.0.0.1:$ups_port" "127.0.0.1:$wan_port" "$ups_pid" >"$site/story.log" 2>&1 &
story_pid=$!

start=$(date +%s)
while [ $(($(date +%s) - start)) -lt "$seconds" ]; do
	[ -t 1 ] && printf '\033[H\033[2J'
	echo "== sonae demo: t+$(($(date +%s) - start))s of ${seconds}s (Ctrl-C stops) =="
	echo "story (over SNMP, $site/story.log):"
	tail -n 3 "$site/story.log" | sed 's/^/  /'
	echo
	echo "\$ sonae status"
	sonae status
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
	sleep 3
done

echo "\$ sonae traps"
sonae traps
echo
echo "\$ sonae audit"
sonae audit
echo "\$ sonae audit verify"
sonae audit verify
stop
echo
echo "The demo site is in $site (logs: sonaed.log, story.log; journal and snapshot: state/)."
