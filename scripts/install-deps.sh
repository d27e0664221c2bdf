#!/bin/sh
# Install what sockaccel needs on Debian 12. Idempotent; needs root (apt-get).
#
#   scripts/install-deps.sh [run|all]
#
# run: build and run sockacceld. all (default): also the test suite (nspawn,
# qemu, lintian, valgrind) and the benchmark's applications and plots.
set -eu

RUN_PKGS="build-essential cmake pkg-config clang llvm bpftool \
libbpf-dev libelf-dev zlib1g-dev libsystemd-dev libmicrohttpd-dev iproute2 procps"
TEST_PKGS="systemd-container debootstrap mmdebstrap umoci lintian qemu-system-x86 busybox-static kmod \
valgrind libjansson-dev redis-server redis-tools nginx haproxy curl wrk gnuplot-nox python3.11 libpython3.11-testsuite"

mode=${1:-all}
case "$mode" in
run) PKGS=$RUN_PKGS ;;
all)
	PKGS="$RUN_PKGS $TEST_PKGS"
	# the manifest validator (tests/deploy) runs on Node.js; Debian's
	# nodejs and npm where the machine has none of its own
	command -v npm >/dev/null || PKGS="$PKGS nodejs npm"
	;;
*) echo "usage: install-deps.sh [run|all]" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get install)" >&2
	exit 1
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
top=$(cd "$(dirname "$0")/.." && pwd)
# The validator's npm packages, exactly as tests/deploy/package-lock.json
# pins them; the tests themselves never touch the network.
npm_deps() {
	[ "$mode" = all ] || return 0
	# npm ci writes node_modules/.package-lock.json: newer than the
	# lockfile means these very versions are installed
	if [ -n "$(find "$top/tests/deploy/node_modules/.package-lock.json" \
		-newer "$top/tests/deploy/package-lock.json" 2> /dev/null)" ]; then
		return 0
	fi
	echo "install-deps: npm ci in tests/deploy"
	npm ci --prefix "$top/tests/deploy" --no-audit --no-fund --loglevel=error
}

if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	npm_deps
	exit 0
fi
echo "install-deps: installing:$missing"

# redis-server, nginx and haproxy are here only for the benchmark, which starts its
# own instances on high ports. Debian would also start and enable the system
# services on a systemd host; policy-rc.d (honoured by invoke-rc.d and
# deb-systemd-invoke) says no for the length of this install. An existing
# policy is the administrator's and is left alone.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# sockaccel install-deps.sh: no service starts during this install\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	own_policy=1
fi
cleanup() {
	[ "$own_policy" = 1 ] && rm -f "$policy"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
if [ -d /run/systemd/system ]; then
	for unit in redis-server.service nginx.service haproxy.service; do
		case "$missing" in
		*"${unit%.service}"*) systemctl disable -q "$unit" 2>/dev/null || true ;;
		esac
	done
fi
npm_deps
