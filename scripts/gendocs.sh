#!/bin/sh
# Regenerate docs/configuration.md from the schema table.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
"$build/monitor/sonaed" -R > docs/configuration.md
echo "docs/configuration.md regenerated"
