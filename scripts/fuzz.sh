#!/bin/sh
# Build the libFuzzer targets (clang, ASan, UBSan) in build-fuzz and run each
# for SECONDS on a copy of its seed corpus (tests/fuzz/corpus/<target>/).
# Exits non-zero if any target crashes, leaks, hangs or trips a sanitizer; the
# input that did it is kept in build-fuzz/artifacts/.
#
# usage: scripts/fuzz.sh [SECONDS]       (default 20 per target)
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-20}
targets="proto conf scenario trap expr window verbs report"
build="build-fuzz"

case $secs in
'' | *[!0-9]*)
	echo "usage: scripts/fuzz.sh [SECONDS]" >&2
	exit 2
	;;
esac

cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DSONAE_FUZZ=ON -DSONAE_SANITIZE=ON \
	>/dev/null
set --
for t in $targets; do
	set -- "$@" "fuzz_$t"
done
cmake --build "$build" -j"$(nproc)" --target "$@"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sonae-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$build/artifacts"

export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# libconfig 1.5 leaks a string on some syntax errors; see the file.
LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
export LSAN_OPTIONS

# Run one target; $1 target, then libFuzzer arguments.  Reports and returns its status.
run() {
	name=$1
	shift
	log="$build/artifacts/fuzz_$name.log"
	if "$build/tests/fuzz/fuzz_$name" -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$build/artifacts/$name-" "$@" >>"$log" 2>&1; then
		return 0
	fi
	echo "fuzz: $name FAILED:" >&2
	grep -E 'ERROR|SUMMARY|fuzz_[a-z]+: |Test unit written' "$log" | sed 's/^/  /' >&2
	return 1
}

failed=""
for t in $targets; do
	cp -R "tests/fuzz/corpus/$t" "$tmp/$t"
	set -- -max_total_time="$secs" -print_final_stats=1
	if [ -f "tests/fuzz/fuzz_$t.dict" ]; then
		set -- "$@" -dict="tests/fuzz/fuzz_$t.dict"
	fi
	# libconfig's leak on syntax errors would make libFuzzer run a full leak
	# check after most inputs (20x slower): the conf target is searched
	# without, and every input it kept is checked for leaks below.
	if [ "$t" = conf ]; then
		set -- "$@" -detect_leaks=0
	fi
	: >"$build/artifacts/fuzz_$t.log"
	echo "fuzz: $t for ${secs}s (log: $build/artifacts/fuzz_$t.log)"
	if ! run "$t" "$@" "$tmp/$t"; then
		failed="$failed $t"
		continue
	fi
	# Every input in the grown corpus once more, with leak checks.
	if ! run "$t" -runs=0 "$tmp/$t"; then
		failed="$failed $t"
		continue
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/artifacts/fuzz_$t.log")
	echo "  $execs executions, corpus $(find "$tmp/$t" -type f | wc -l) inputs, no crash, no leak"
done

if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed (inputs and logs in $build/artifacts/)" >&2
	exit 1
fi
echo "fuzz: ok"
