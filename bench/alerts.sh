#!/bin/sh
# The mail spool and its delivery under load (bench/alerts_bench.c):
# MESSAGES rendered alert mails queued durably while the relay is down
# (queueing rate, memory at each of SAMPLES queued), then drained into
# aiosmtpd once it is back (rate, CPU per message on both sides, every
# message checked at the sink), compared with swaks and msmtp run once per
# message; then incident opened -> mail accepted through a whole sonaed
# (bench/alerts_latency.py).  Builds RelWithDebInfo without sanitizers in build-bench; the
# figures also go to bench/out/alerts-<time>.json, sonae's log to
# bench/out/alerts-<time>.log.  About 2 minutes with the defaults.
#
# usage: bench/alerts.sh [MESSAGES [SAMPLES]] [-- alerts_bench options]
#        SAMPLES: queued counts, comma-separated (default MESSAGES/10,
#        MESSAGES/2, MESSAGES)
set -eu
cd "$(dirname "$0")/.."
n=${1:-10000}
samples=${2:-$((n / 10)),$((n / 2)),$n}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && [ "$1" != "--" ] && shift
[ "${1:-}" = "--" ] && shift
if ! /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; then
	echo "alerts.sh: needs Debian's python3-aiosmtpd (scripts/setup.sh)" >&2
	exit 1
fi
./scripts/build.sh build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSONAE_SANITIZE=OFF \
	-DSONAE_FUZZ=OFF >/dev/null
mkdir -p bench/out
stamp=$(date +%Y%m%dT%H%M%S)
out="bench/out/alerts-$stamp.json"
log="bench/out/alerts-$stamp.log"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
if ! build-bench/bench/alerts_bench -n "$n" -s "$samples" -o "$out" "$@" 2>"$log"; then
	tail -n 5 "$log" >&2
	exit 1
fi
echo
# The whole daemon: incident opened -> mail accepted (group_wait 0).
lat="bench/out/alerts-latency-$stamp.json"
/usr/bin/python3 bench/alerts_latency.py --bin build-bench/monitor -n "${SONAE_BENCH_LATENCY_N:-300}" \
	-o "$lat" || echo "alerts.sh: the latency target (p99 <= 1 s, none lost) was missed" >&2
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "figures: $out, $lat (sonae's log: $log)"
