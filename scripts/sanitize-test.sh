#!/bin/sh
# The unit, integration and sockaccelctl tests again with everything built by
# clang under AddressSanitizer and UndefinedBehaviorSanitizer (LeakSanitizer
# included): the daemon and sockaccelctl the tests drive are instrumented
# too. Any report fails the run. Build tree: build-asan/.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S "$top" -B "$top/build-asan" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	-DSA_HARDEN=OFF -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$top/build-asan" -j "$(nproc)"
# abort_on_error: a report kills the process, so the test that ran it fails;
# detect_leaks: LeakSanitizer at every exit
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$top/build-asan"
exec ctest --output-on-failure --timeout 600 -L 'unit|integration|ctl' "$@"
