#!/bin/sh
# Modbus TCP polling against a libmodbus server on loopback (bench/modbus_server.c,
# one port per device): sonaed with DEVICES modbus devices (8 points in 8
# contiguous holding registers each, every 1 s), then collectd's modbus plugin
# on the same server with the same load (8 <Data> blocks per <Host>, as it
# reads them: one request each).  CPU per read (reads counted at the server),
# resident memory, missed intervals.  Builds RelWithDebInfo without sanitizers
# in build-bench, runs bench/modbus_bench.py and prints a table; the figures
# also go to bench/out/modbus-<time>.json.  About 2.5 min with the defaults.
#
# usage: bench/modbus.sh [DEVICES] [-- modbus_bench.py options]
set -eu
cd "$(dirname "$0")/.."
devices=${1:-200}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
py=/usr/bin/python3

for b in /usr/sbin/collectd cc pkg-config; do
	command -v "$b" >/dev/null || { echo "modbus.sh: $b is missing (scripts/setup.sh)" >&2; exit 1; }
done
[ -f /usr/lib/collectd/modbus.so ] || { echo "modbus.sh: collectd's modbus plugin is missing (collectd-core)" >&2; exit 1; }
./scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSONAE_SANITIZE=OFF \
	-DSONAE_FUZZ=OFF >/dev/null
# shellcheck disable=SC2046
cc -O2 -Wall -Wextra -Werror -o build-bench/modbus_server bench/modbus_server.c \
	$(pkg-config --cflags --libs libmodbus)

mkdir -p bench/out
out="bench/out/modbus-$(date +%Y%m%dT%H%M%S).json"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "build:   build-bench (RelWithDebInfo, $(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' build-bench/CMakeCache.txt))"
echo "peers:   libmodbus $(pkg-config --modversion libmodbus) server, $(/usr/sbin/collectd -h 2>/dev/null | sed -n 's/^collectd \([0-9.]*[0-9]\).*/collectd \1/p' | head -n 1)"
"$py" bench/modbus_bench.py --sonaed build-bench/monitor/sonaed --server build-bench/modbus_server \
	--devices "$devices" --json "$out" "$@"
echo "figures: $out"
