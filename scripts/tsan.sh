#!/usr/bin/env bash
# ThreadSanitizer over the native transport's threads: the I/O thread that runs a connection's
# Session and its Streams, and the handler pool that reads and writes them. Builds the
# fuzz_h2_connection harness with clang and -fsanitize=thread (build-tsan/: the native transport's
# sources and dispatch only, not gRPC C++, whose prebuilt libraries TSan cannot see into) and
# replays its committed corpus several times (no libFuzzer: its coverage counters are bumped by
# every thread unsynchronised, which TSan reports). scripts/test.sh calls it after the fuzz stage;
# a data race fails it with TSan's report and the input.
#   scripts/tsan.sh                     5 passes over the corpus
#   GRYPHON_TSAN_PASSES=50 scripts/tsan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PASSES=${GRYPHON_TSAN_PASSES:-5}
BUILD=$ROOT/build-tsan
start=${GRYPHON_FUZZ_CLOCK_START:-$(date +%s)}
stamp() { echo "==> [$(( $(date +%s) - start ))s] $*"; }

[[ $PASSES =~ ^[1-9][0-9]*$ ]] \
  || { echo "error: GRYPHON_TSAN_PASSES must be a whole number, not '$PASSES'" >&2; exit 2; }
command -v clang++ >/dev/null \
  || { echo "error: clang++ not found; install clang and libclang-rt-14-dev (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

stamp "tsan build: configuring build-tsan/ (clang, ThreadSanitizer)"
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRYPHON_FUZZ=ON \
  -DGRYPHON_FUZZ_SANITIZE=thread -DGRYPHON_BUILD_TESTS=OFF -DGRYPHON_BUILD_EXAMPLES=OFF \
  -DGRYPHON_BUILD_BENCH=OFF >build-tsan.configure.log 2>&1 \
  || { cat build-tsan.configure.log; echo "error: cmake configure of build-tsan/ failed (log above)" >&2; exit 1; }
stamp "tsan build: compiling fuzz_h2_connection"
cmake --build "$BUILD" -j "$(nproc)" --target fuzz_h2_connection

binary=$BUILD/tests/fuzz/fuzz_h2_connection
corpus=$ROOT/tests/fuzz/corpus/fuzz_h2_connection
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
log=$(mktemp /tmp/gryphon-tsan.XXXXXX.log)
trap 'rm -f "$log"' EXIT
seeds=$(find "$corpus" -type f | wc -l)
# The same inputs several times over: each pass interleaves the I/O and pool threads differently.
for pass in $(seq 1 "$PASSES"); do
  stamp "tsan: replaying the $seeds corpus inputs, pass $pass of $PASSES"
  if ! "$binary" "$corpus" >"$log" 2>&1; then
    awk '/WARNING: ThreadSanitizer|invariant broken|ERROR:/ { on = 1 } on' "$log" | head -n 150 | grep . \
      || tail -n 80 "$log"
    input=$(grep -E '^replaying ' "$log" | tail -n 1 | sed -E 's/^replaying ([^ ]+).*/\1/')
    echo "error: fuzz_h2_connection failed under ThreadSanitizer on $input (report above); to reproduce: $binary $input" >&2
    exit 1
  fi
done
stamp "tsan: no data race in $PASSES passes over $seeds inputs"
