#!/bin/sh
# Configure and build sonae.  usage: scripts/build.sh [BUILD_DIR] [cmake args...]
# Default: build/, RelWithDebInfo, no sanitizers.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
[ $# -gt 0 ] && shift
cmake -S . -B "$dir" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
