#!/bin/sh
# Validate every example configuration under etc/ with `sonae validate FILE`.
# Files named *.conf that are only meant to be @included are listed in
# etc/.include-only and skipped as main files.
set -eu
sonae=$1
etc=$2
n=0
for f in $(find "$etc" -name '*.conf' | sort); do
	case " $(cat "$etc/.include-only" 2>/dev/null | tr '\n' ' ') " in
	*" ${f#"$etc"/} "*) continue ;;
	esac
	"$sonae" validate "$f"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "no example configurations found under $etc" >&2; exit 1; }
echo "$n example configurations validate"
