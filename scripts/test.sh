#!/usr/bin/env bash
# README command 2 (and CI): install what is missing, then build and run every test twice:
#   1. the normal build (build/): unit, codegen and integration tests, including every drill;
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/): unit and codegen
#      tests plus the drills labelled "sanitizer";
#   3. the libFuzzer harnesses (build-fuzz/, clang), each for a bounded time (scripts/fuzz.sh).
#   4. ThreadSanitizer over the native transport's threads (build-tsan/, clang): the connection
#      harness's corpus and 30 s of fuzzing (scripts/tsan.sh).
# Each part prints its progress; the script stops at the first failure with ctest's report.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc)
start=$(date +%s)
stamp() { echo "==> [$(( $(date +%s) - start ))s] $*"; }

./scripts/install-deps.sh

stamp "normal build: configuring build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >build.configure.log 2>&1 \
  || { cat build.configure.log; echo "error: cmake configure failed (log above)" >&2; exit 1; }
stamp "normal build: compiling"
cmake --build build -j "$JOBS"
stamp "normal build: running every test"
(cd build && ctest --output-on-failure --timeout 1200 -j "$JOBS" -LE sanitizer-only)

stamp "sanitizer build: configuring build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DGRYPHON_SANITIZE=address,undefined \
  -DGRYPHON_BUILD_BENCH=OFF >build-asan.configure.log 2>&1 \
  || { cat build-asan.configure.log; echo "error: cmake configure failed (log above)" >&2; exit 1; }
stamp "sanitizer build: compiling the unit, codegen and drill targets"
cmake --build build-asan -j "$JOBS" --target gryphon_sanitizer_tests
stamp "sanitizer build: running unit, codegen and sanitizer drills"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp \
   ctest --output-on-failure --timeout 1200 -j "$JOBS" -L 'unit|codegen|sanitizer' -LE slow)
stamp "fuzz build: libFuzzer harnesses, ${GRYPHON_FUZZ_SECONDS:-60}s each (scripts/fuzz.sh)"
GRYPHON_FUZZ_CLOCK_START=$start ./scripts/fuzz.sh
stamp "tsan build: the native transport under ThreadSanitizer (scripts/tsan.sh)"
GRYPHON_FUZZ_CLOCK_START=$start ./scripts/tsan.sh
stamp "all tests passed"
