#!/bin/sh
# SNMP polling against net-snmp snmpd responders on loopback: sonaed with
# DEVICES snmp devices (one 6-varbind GET every 5 s each), then collectd's snmp
# plugin on the same responders with the same load, then a fork-per-check
# snmpget loop.  CPU per poll (polls counted at the responders), resident
# memory, missed polls.  Builds RelWithDebInfo without sanitizers in
# build-bench, runs bench/snmp_bench.py and prints a table; the figures also go
# to bench/out/snmp-<time>.json.  About 2.5 min with the defaults.
#
# usage: bench/snmp.sh [DEVICES] [-- snmp_bench.py options]
set -eu
cd "$(dirname "$0")/.."
devices=${1:-1000}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
py=/usr/bin/python3

for b in /usr/sbin/snmpd snmpget /usr/sbin/collectd; do
	command -v "$b" >/dev/null || { echo "snmp.sh: $b is missing (scripts/setup.sh)" >&2; exit 1; }
done
./scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSONAE_SANITIZE=OFF \
	-DSONAE_FUZZ=OFF >/dev/null

mkdir -p bench/out
out="bench/out/snmp-$(date +%Y%m%dT%H%M%S).json"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "build:   build-bench (RelWithDebInfo, $(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' build-bench/CMakeCache.txt))"
echo "peers:   $(/usr/sbin/snmpd -v 2>/dev/null | sed -n 's/^NET-SNMP version: *//p' | head -n 1 | sed 's/^/net-snmp /'), $(/usr/sbin/collectd -h 2>/dev/null | sed -n 's/^collectd \([0-9.]*[0-9]\).*/collectd \1/p' | head -n 1)"
"$py" bench/snmp_bench.py --sonaed build-bench/monitor/sonaed --sonae build-bench/monitor/sonae \
	--devices "$devices" --json "$out" "$@"
echo "figures: $out"
