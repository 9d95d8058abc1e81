#!/bin/sh
# Trap-to-metric latency on loopback: sonaed with one snmp device on snmpsimd
# (polled every 600 s), upsTrapOnBattery sent after each flip of the UPS's
# output source, latency until the new on_battery value is in the store.
# Builds RelWithDebInfo without sanitizers in build-bench, runs
# bench/trap_bench.py and prints p50/p95/p99/max; the figures also go to
# bench/out/trap-<time>.json.  About a minute with the defaults.
#
# usage: bench/trap.sh [TRAPS] [-- trap_bench.py options]
set -eu
cd "$(dirname "$0")/.."
traps=${1:-200}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
py=/usr/bin/python3

for b in snmpsimd snmpset snmpget; do
	command -v "$b" >/dev/null || { echo "trap.sh: $b is missing (scripts/setup.sh)" >&2; exit 1; }
done
./scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSONAE_SANITIZE=OFF \
	-DSONAE_FUZZ=OFF >/dev/null

mkdir -p bench/out
out="bench/out/trap-$(date +%Y%m%dT%H%M%S).json"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "build:   build-bench (RelWithDebInfo, $(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' build-bench/CMakeCache.txt))"
"$py" bench/trap_bench.py --sonaed build-bench/monitor/sonaed --sonae build-bench/monitor/sonae \
	--traps "$traps" --json "$out" "$@"
echo "figures: $out"
