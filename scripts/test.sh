#!/usr/bin/env bash
# README command 2 (and CI): install what is missing, then build and run every test:
#   1. the normal build (build/): unit, codegen and integration tests, including every drill;
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/): unit and codegen
#      tests plus the drills labelled "sanitizer";
#   3. the libFuzzer harnesses (build-fuzz/, clang), each for a bounded time (scripts/fuzz.sh);
#   4. ThreadSanitizer over the native transport's threads (build-tsan/, clang): the connection
#      harness's corpus replayed under it (scripts/tsan.sh).
# Each stage prints its progress. A stage that fails does not stop the others: every stage runs,
# and the script ends with a summary of each stage (failed tests by name, skipped test cases
# counted) and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc)
start=$(date +%s)
stamp() { echo "==> [$(( $(date +%s) - start ))s] $*"; }

./scripts/install-deps.sh || { echo "error: installing the packages failed (above); fix that first" >&2; exit 1; }

summary=()
failed=0
# record <stage> <status> <detail>
record() {
  if [ "$2" -eq 0 ]; then summary+=("  ok      $1 $3"); else summary+=("  FAILED  $1 $3"); failed=1; fi
}
# What a ctest run in <dir> failed and skipped: names of failed tests, and unittest cases that
# reported themselves skipped (with their reasons in the log).
ctest_detail() {
  local dir=$1 detail=""
  if [ -s "$dir/Testing/Temporary/LastTestsFailed.log" ]; then
    detail="failed: $(cut -d: -f2- "$dir/Testing/Temporary/LastTestsFailed.log" | paste -sd, -)"
  fi
  local skipped
  skipped=$(grep -ac '\.\.\. skipped ' "$dir/Testing/Temporary/LastTest.log" 2>/dev/null || true)
  echo "${detail:+$detail; }${skipped:-0} test cases skipped (reasons: grep '... skipped' $dir/Testing/Temporary/LastTest.log)"
}
configure() {  # configure <dir> <log> <cmake args...>
  local dir=$1 log=$2
  shift 2
  cmake -S . -B "$dir" "$@" >"$log" 2>&1 || { cat "$log"; echo "error: cmake configure of $dir failed (log above)" >&2; return 1; }
}

# ---- 1. normal build
stage_start=$(date +%s)
stamp "normal build: configuring build/"
if configure build build.configure.log -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
   stamp "normal build: compiling" && cmake --build build -j "$JOBS"; then
  stamp "normal build: running every test"
  rm -f build/Testing/Temporary/LastTestsFailed.log
  (cd build && ctest --output-on-failure --timeout 1200 -j "$JOBS" -LE sanitizer-only)
  status=$?
  record "normal build" $status "($(( $(date +%s) - stage_start ))s): $(ctest_detail build)"
else
  record "normal build" 1 "(did not build; its tests did not run)"
fi

# ---- 2. sanitizer build
stage_start=$(date +%s)
stamp "sanitizer build: configuring build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer)"
if configure build-asan build-asan.configure.log -DCMAKE_BUILD_TYPE=Debug \
     -DGRYPHON_SANITIZE=address,undefined -DGRYPHON_BUILD_BENCH=OFF &&
   stamp "sanitizer build: compiling the unit, codegen and drill targets" &&
   cmake --build build-asan -j "$JOBS" --target gryphon_sanitizer_tests; then
  stamp "sanitizer build: running unit, codegen and sanitizer drills"
  rm -f build-asan/Testing/Temporary/LastTestsFailed.log
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp \
     ctest --output-on-failure --timeout 1200 -j "$JOBS" -L 'unit|codegen|sanitizer' -LE slow)
  status=$?
  record "sanitizer build" $status "($(( $(date +%s) - stage_start ))s): $(ctest_detail build-asan)"
else
  record "sanitizer build" 1 "(did not build; its tests did not run)"
fi

# ---- 3. fuzzing
stage_start=$(date +%s)
stamp "fuzz build: libFuzzer harnesses, ${GRYPHON_FUZZ_SECONDS:-60}s each (scripts/fuzz.sh)"
GRYPHON_FUZZ_CLOCK_START=$start ./scripts/fuzz.sh
record "fuzzing" $? "($(( $(date +%s) - stage_start ))s; a crash's input and how to reproduce it are printed above)"

# ---- 4. ThreadSanitizer
stage_start=$(date +%s)
stamp "tsan build: the native transport under ThreadSanitizer (scripts/tsan.sh)"
GRYPHON_FUZZ_CLOCK_START=$start ./scripts/tsan.sh
record "thread sanitizer" $? "($(( $(date +%s) - stage_start ))s)"

echo
stamp "summary"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
  echo "error: some stages failed (above); each failed test's output is in its stage's log above" >&2
  exit 1
fi
stamp "all tests passed"
