#!/bin/sh
# Playbooks (issue 7): the cost of a run's checkpoint, save by save and per
# step of the engine, with and without checkpoints (bench/playbook_bench.c);
# then incident opened -> first step of its playbook running, through a whole
# sonaed polling a Modbus device (bench/playbook_latency.py, with
# bench/modbus_server.c and bench/pb_stamp.c): a playbook whose first step is
# an exec, then one whose first step is a notify (mail to aiosmtpd on
# loopback).  Builds Release without sanitizers in build-bench; the figures
# also go to bench/out/playbook-<time>.json and
# bench/out/playbook-latency-{exec,notify}-<time>.json.  About 5 minutes with
# the defaults.
#
# usage: bench/playbook.sh [INCIDENTS] [-- playbook_bench options]
#        INCIDENTS: how many incidents are opened and resolved in turn (200)
set -eu
cd "$(dirname "$0")/.."
n=${1:-200}
[ $# -gt 0 ] && [ "$1" != "--" ] && shift
[ "${1:-}" = "--" ] && shift
for b in cc pkg-config; do
	command -v "$b" >/dev/null || { echo "playbook.sh: $b is missing (scripts/setup.sh)" >&2; exit 1; }
done
./scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=Release -DSONAE_SANITIZE=OFF \
	-DSONAE_FUZZ=OFF >/dev/null
# shellcheck disable=SC2046
cc -O2 -Wall -Wextra -Werror -o build-bench/modbus_server bench/modbus_server.c \
	$(pkg-config --cflags --libs libmodbus)
mkdir -p bench/out
stamp=$(date +%Y%m%dT%H%M%S)
out="bench/out/playbook-$stamp.json"
log="bench/out/playbook-$stamp.log"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
if ! build-bench/bench/playbook_bench -x "$PWD/build-bench/bench/pb_stamp" -o "$out" "$@" \
	2>"$log"; then
	tail -n 5 "$log" >&2
	exit 1
fi
echo
for variant in exec notify; do
	lat="bench/out/playbook-latency-$variant-$stamp.json"
	if [ $variant = notify ] && grep -q 'TEMPORARY: alerts_notice' monitor/daemon.c; then
		echo "(a notify first step: not measured, the daemon's notify hook is not wired"
		echo " to alerts_notice() in this tree)"
		continue
	fi
	if [ $variant = notify ] && ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
		echo "(a notify first step: not measured, needs Debian's python3-aiosmtpd:"
		echo " scripts/setup.sh)"
		continue
	fi
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
	/usr/bin/python3 bench/playbook_latency.py --bin build-bench/monitor \
		--server build-bench/modbus_server --stamp build-bench/bench/pb_stamp -n "$n" \
		--variant $variant -o "$lat" ||
		echo "playbook.sh: the latency target (p99 <= 100 ms, every run done) was missed" >&2
	echo
	lats="${lats:-}${lats:+, }$lat"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "figures: $out, ${lats:-} (log: $log)"
