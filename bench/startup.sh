#!/bin/sh
# sonaed with 1,000 replay devices x 10 metrics: start-up time to the first
# answered `sonae status`, resident memory, and the `sonae status --json` round
# trip.  Builds RelWithDebInfo without sanitizers in build-bench, generates the
# configuration in a temporary folder, runs bench/measure.py and prints a
# table; the figures also go to bench/out/<time>.json.  About 55 s.
#
# usage: bench/startup.sh [DEVICES] [-- measure.py options]
set -eu
cd "$(dirname "$0")/.."
devices=${1:-1000}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
py=/usr/bin/python3

./scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSONAE_SANITIZE=OFF \
	-DSONAE_FUZZ=OFF >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sonae-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
conf=$("$py" bench/gen_config.py "$tmp" --devices "$devices")
mkdir -p bench/out
out="bench/out/$(date +%Y%m%dT%H%M%S).json"

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; other work on the machine skews every figure)"
echo "build:   build-bench (RelWithDebInfo, $(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' build-bench/CMakeCache.txt))"
"$py" bench/measure.py --sonaed build-bench/monitor/sonaed --sonae build-bench/monitor/sonae \
	--conf "$conf" --json "$out" "$@"
echo "figures: $out"
