#!/usr/bin/env bash
# ThreadSanitizer over the native transport's threads: the I/O thread that runs a connection's
# Session and its Streams, and the handler pool that reads and writes them. Builds the
# fuzz_h2_connection harness with clang and -fsanitize=thread (build-tsan/: the native transport's
# sources and dispatch only, not gRPC C++, whose prebuilt libraries TSan cannot see into), replays
# its committed corpus and then fuzzes it for a bounded time. scripts/test.sh calls it after the
# fuzz stage; a data race fails it with TSan's report.
#   scripts/tsan.sh                     the corpus, then 30 s of fuzzing
#   GRYPHON_TSAN_SECONDS=300 scripts/tsan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_FUZZ=${GRYPHON_TSAN_SECONDS:-30}
BUILD=$ROOT/build-tsan
start=${GRYPHON_FUZZ_CLOCK_START:-$(date +%s)}
stamp() { echo "==> [$(( $(date +%s) - start ))s] $*"; }

[[ $SECONDS_FUZZ =~ ^[1-9][0-9]*$ ]] \
  || { echo "error: GRYPHON_TSAN_SECONDS must be a whole number of seconds, not '$SECONDS_FUZZ'" >&2; exit 2; }
command -v clang++ >/dev/null \
  || { echo "error: clang++ not found; install clang and libclang-rt-14-dev (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

stamp "tsan build: configuring build-tsan/ (clang, libFuzzer, ThreadSanitizer)"
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRYPHON_FUZZ=ON \
  -DGRYPHON_FUZZ_SANITIZE=thread -DGRYPHON_BUILD_TESTS=OFF -DGRYPHON_BUILD_EXAMPLES=OFF \
  -DGRYPHON_BUILD_BENCH=OFF >build-tsan.configure.log 2>&1 \
  || { cat build-tsan.configure.log; echo "error: cmake configure of build-tsan/ failed (log above)" >&2; exit 1; }
stamp "tsan build: compiling fuzz_h2_connection"
cmake --build "$BUILD" -j "$(nproc)" --target fuzz_h2_connection

binary=$BUILD/tests/fuzz/fuzz_h2_connection
work=$(mktemp -d /tmp/gryphon-tsan.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$ROOT/tests/fuzz/corpus/fuzz_h2_connection" "$work/corpus"
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
log=$work/tsan.log
run() {
  "$binary" "$@" -max_len=16384 -timeout=20 -rss_limit_mb=4096 -artifact_prefix="$work/" >"$log" 2>&1 \
    && return 0
  awk '/WARNING: ThreadSanitizer|==[0-9]+==ERROR|invariant broken|deadly signal|ERROR: libFuzzer/ { on = 1 }
       on' "$log" | head -n 120 | grep . || tail -n 80 "$log"
  echo "error: ThreadSanitizer run of fuzz_h2_connection failed; log above (input: $(ls "$work"/crash-* "$work"/timeout-* 2>/dev/null | head -n 1))" >&2
  exit 1
}
seeds=$(find "$work/corpus" -type f | wc -l)
stamp "tsan: replaying the $seeds corpus inputs"
run -runs=0 "$work/corpus"
stamp "tsan: fuzzing for ${SECONDS_FUZZ}s"
run "$work/corpus" -max_total_time="$SECONDS_FUZZ"
stamp "tsan: no data race; $(grep -E '^#[0-9]+' "$log" | tail -n 1 | awk '{print $1}' | tr -d '#') runs"
