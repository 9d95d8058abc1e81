#!/bin/sh
# The demo site: sonaed watching a simulated server room (UPS, WAN link,
# temperature sensor, leak cable) played by replay scenarios.  Shows what an
# operator sees through `sonae` while mains fails, the room heats up, the WAN
# link drops and the UPS card stops answering, then everything recovers.
#
# usage: scripts/demo.sh [SECONDS]   (default 130: one full scenario cycle)
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh build

top=$(pwd)
site=$top/demo-site
seconds=${1:-130}
rm -rf "$site"
mkdir -p "$site"
cp etc/demo/*.conf etc/demo/*.replay "$site/"
cat > "$site/runtime.conf" <<CONF
daemon: { state_dir = "$site/state"; snapshot_interval = "2s"; };
control: { socket = "$site/sonae.sock"; };
CONF

sonae() { "$top/build/monitor/sonae" -s "$site/sonae.sock" "$@"; }

"$top/build/monitor/sonaed" -f -c "$site/sonae.conf" 2>"$site/sonaed.log" &
pid=$!
stop() {
	kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
}
trap 'stop; exit 130' INT TERM
trap stop EXIT

i=0
until sonae status >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "sonaed did not start:" >&2; cat "$site/sonaed.log" >&2; exit 1; }
	sleep 0.1
done

start=$(date +%s)
while [ $(($(date +%s) - start)) -lt "$seconds" ]; do
	[ -t 1 ] && printf '\033[H\033[2J'
	echo "== sonae demo: t+$(($(date +%s) - start))s of ${seconds}s (Ctrl-C stops) =="
	echo "\$ sonae status"
	sonae status
	echo
	echo "\$ sonae devices"
	sonae devices
	echo
	echo "\$ sonae device ups1"
	sonae device ups1 | tail -n +7
	echo
	sleep 3
done

echo "\$ sonae audit"
sonae audit
echo "\$ sonae audit verify"
sonae audit verify
echo
echo "The demo site is in $site (log: sonaed.log, journal and snapshot: state/)."
