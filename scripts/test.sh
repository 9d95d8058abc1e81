#!/bin/sh
# Set up the machine, build sonae with AddressSanitizer and UBSan, run a short
# bounded fuzz run of every parser that reads outside input, then every test
# (unit suites, integration tests against the real daemon, docs checks).
#
# usage: scripts/test.sh            (as root on Debian 12; installs packages)
#        FUZZ_SECONDS=0 scripts/test.sh   skips the fuzz run (local use only)
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh build-test -DSONAE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
if [ "${FUZZ_SECONDS:-20}" -gt 0 ]; then
	./scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
cd build-test
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# libconfig 1.5 leaks a token on some syntax errors (see the file).
export LSAN_OPTIONS="suppressions=$(cd .. && pwd)/tests/lsan.supp:print_suppressions=0"
ctest --output-on-failure -j2 --timeout 900
