#!/bin/sh
# The detection layer under load: RULES rules over METRICS metrics inside a
# real daemon, driven as a probe drives it (bench/detect_bench.c): cost per
# sample update (and the store's own share), time from a sample to its
# incident being open, the state write after it, peak memory.  Builds
# RelWithDebInfo without sanitizers in build-bench; the figures also go to
# bench/out/detect-<time>.json.  About 20 s with the defaults.
#
# usage: bench/detect.sh [RULES [METRICS]] [-- detect_bench options]
set -eu
cd "$(dirname "$0")/.."
rules=${1:-10000}
metrics=${2:-20000}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && [ "$1" != "--" ] && shift
[ "${1:-}" = "--" ] && shift
./scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSONAE_SANITIZE=OFF \
	-DSONAE_FUZZ=OFF >/dev/null
mkdir -p bench/out
out="bench/out/detect-$(date +%Y%m%dT%H%M%S).json"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
build-bench/bench/detect_bench -r "$rules" -m "$metrics" -o "$out" "$@"
echo "figures: $out"
