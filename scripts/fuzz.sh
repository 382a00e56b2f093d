#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ with clang (build-fuzz/: coverage, ASan, UBSan)
# and runs each for a bounded time on a temporary copy of its committed corpus; the repository is
# never written to. scripts/test.sh calls it as its last stage.
#   scripts/fuzz.sh [harness...]        every harness (or the ones named), 60 s each
#   GRYPHON_FUZZ_SECONDS=600 scripts/fuzz.sh   longer runs
# On a crash it prints the report, the saved input and the command that reproduces it, and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_EACH=${GRYPHON_FUZZ_SECONDS:-60}
BUILD=$ROOT/build-fuzz
start=${GRYPHON_FUZZ_CLOCK_START:-$(date +%s)}  # scripts/test.sh passes its own
stamp() { echo "==> [$(( $(date +%s) - start ))s] $*"; }

[[ $SECONDS_EACH =~ ^[1-9][0-9]*$ ]] \
  || { echo "error: GRYPHON_FUZZ_SECONDS must be a whole number of seconds, not '$SECONDS_EACH'" >&2; exit 2; }
command -v clang++ >/dev/null \
  || { echo "error: clang++ not found; install clang and libclang-rt-14-dev (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
runtime_dir=$(clang++ -print-runtime-dir)
[[ -f $runtime_dir/libclang_rt.fuzzer-x86_64.a ]] \
  || { echo "error: libFuzzer is missing from $runtime_dir; install libclang-rt-14-dev" >&2; exit 1; }

stamp "fuzz build: configuring build-fuzz/ (clang, libFuzzer, AddressSanitizer + UndefinedBehaviorSanitizer)"
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRYPHON_FUZZ=ON \
  -DGRYPHON_BUILD_TESTS=OFF -DGRYPHON_BUILD_EXAMPLES=OFF -DGRYPHON_BUILD_BENCH=OFF \
  >build-fuzz.configure.log 2>&1 \
  || { cat build-fuzz.configure.log; echo "error: cmake configure of build-fuzz/ failed (log above)" >&2; exit 1; }
stamp "fuzz build: compiling the harnesses"
cmake --build "$BUILD" -j "$(nproc)" --target gryphon_fuzzers

mapfile -t harnesses < <(awk -v want=" $* " 'want == "  " || index(want, " " $1 " ")' "$BUILD/tests/fuzz/fuzzers.txt")
(( ${#harnesses[@]} > 0 )) \
  || { echo "error: no harness matches '$*'; the harnesses are: $(cut -d' ' -f1 "$BUILD/tests/fuzz/fuzzers.txt" | xargs)" >&2; exit 2; }

work=$(mktemp -d /tmp/gryphon-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

for line in "${harnesses[@]}"; do
  read -r name max_len <<<"$line"
  binary=$BUILD/tests/fuzz/$name
  corpus=$work/$name
  artifacts=$BUILD/fuzz-artifacts/$name
  cp -r "$ROOT/tests/fuzz/corpus/$name" "$corpus"
  mkdir -p "$artifacts"
  seeds=$(find "$corpus" -type f | wc -l)
  dict=()
  [[ -f $ROOT/tests/fuzz/$name.dict ]] && dict=(-dict="$ROOT/tests/fuzz/$name.dict")
  log=$artifacts/fuzz.log
  stamp "fuzzing $name for ${SECONDS_EACH}s (max_len $max_len, $seeds seeds; log $log)"
  "$binary" "$corpus" -max_total_time="$SECONDS_EACH" -max_len="$max_len" -timeout=60 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" \
    >"$log" 2>&1 &
  pid=$!
  ticks=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (( ++ticks % 15 == 0 )); then
      status=$(grep -E '^#[0-9]+' "$log" | tail -n 1 \
                 | sed -E 's/^#([0-9]+)[[:space:]]+[A-Za-z]+[[:space:]]+(.*rss: [0-9]+Mb).*/\1 runs, \2/')
      stamp "  $name: ${status:-starting}"
    fi
  done
  rc=0
  wait "$pid" || rc=$?
  if (( rc != 0 )); then
    crash=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -n 1)
    # The report from its first line on (sanitizer error, broken invariant, deadly signal...).
    awk '/==[0-9]+==ERROR|runtime error:|invariant broken|deadly signal|ERROR: libFuzzer/ { on = 1 }
         on' "$log" | grep . || tail -n 80 "$log"
    echo "error: $name failed (exit $rc); crash input: ${crash:-none saved, see $log}" >&2
    if [[ -n $crash ]]; then
      echo "to reproduce: $binary $crash" >&2
      echo "  (or with g++ ASan + UBSan: build-asan/tests/fuzz/${name}_replay $crash)" >&2
      echo "once fixed, keep it as a regression input: cp $crash tests/fuzz/corpus/$name/" >&2
    fi
    exit 1
  fi
  stats=$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" \
            | sed -E 's/^stat::([a-z_]+): +/\1=/' | xargs)
  stamp "  $name: no crash; $stats; corpus $seeds -> $(find "$corpus" -type f | wc -l) (discarded)"
done
stamp "fuzzing passed"
