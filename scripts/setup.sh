#!/bin/sh
# Install every Debian package that sonae's build, tests, demo and benchmarks need.
# This is the only place package names live. Idempotent and non-interactive: when
# everything is present it changes nothing and does not touch the network.
set -eu

PACKAGES="
	build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
	libevent-dev libconfig-dev libmodbus-dev libsnmp-dev libcurl4-openssl-dev
	libjansson-dev libssl-dev check
	snmpd snmp snmpsim python3-pymodbus python3-serial-asyncio python3-aiosmtpd msmtp mbpoll swaks socat openssl
	python3 procps util-linux time tzdata collectd-core
	chromium fonts-noto-cjk
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi

echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing

# The snmpd package starts a system agent on udp/161 (and collectd, when its
# service is present, a system collector); tests and benchmarks start their own
# on loopback and never need them.
for svc in snmpd collectd; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
	fi
done
