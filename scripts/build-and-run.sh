#!/bin/sh
# Install dependencies, build, and run sockacceld in the foreground with the
# given options (default: accelerate every TCP connection between local
# processes of this host, pins in /sys/fs/bpf/sockaccel).
# Ctrl-C stops the daemon and leaves the fast path in place;
# rm -r /sys/fs/bpf/sockaccel turns it off.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh" run
exec "$top/build/daemon/sockacceld" "$@"
