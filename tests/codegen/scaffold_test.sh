#!/usr/bin/env bash
# The scaffold as a new user meets it: install gryphon into a fresh prefix, `gryphon new` a project
# from a .proto, build and test it with its preset, and run the server with several workers until
# it is ready, then stop it with TERM. Also checks that nothing the user edited is overwritten and
# that a deleted skeleton comes back at configure time.
#
#   scaffold_test.sh <gryphon build dir> <proto file>
set -euo pipefail
build=$(realpath "$1")
proto=$(realpath "$2")
work=$(mktemp -d /tmp/gryphon-scaffold-XXXXXX)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

echo "== install gryphon into $work/prefix"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" || {
  cat "$work/install.log"
  fail "cmake --install failed (is everything built?)"
}
gryphon=$work/prefix/bin/gryphon
cp "$proto" "$work/greeter.proto"
cd "$work"

echo "== gryphon new demo greeter.proto"
"$gryphon" new demo greeter.proto
for file in CMakeLists.txt CMakePresets.json proto/greeter.proto src/main.cc \
            src/greeter.skeleton.h src/greeter.skeleton.cc src/greeter_test.cc; do
  [[ -f demo/$file ]] || fail "gryphon new did not create $file"
done

echo "== a second run keeps what exists"
echo "// edited by the user" >>demo/src/greeter.skeleton.cc
"$gryphon" new demo greeter.proto >"$work/second.log"
grep -q "kept     src/greeter.skeleton.cc" "$work/second.log" || fail "second run did not keep the skeleton"
grep -q "edited by the user" demo/src/greeter.skeleton.cc || fail "second run overwrote an edited file"

echo "== a deleted skeleton is created again by gryphon_generate(SKELETON_DIR) at configure time"
rm demo/src/greeter.skeleton.h
cd demo
cmake --workflow --preset default
[[ -f src/greeter.skeleton.h ]] || fail "configure did not recreate src/greeter.skeleton.h"
grep -q "edited by the user" src/greeter.skeleton.cc || fail "configure overwrote an edited skeleton"

echo "== run the server with 2 workers"
./build/demo --listen 127.0.0.1:0 --workers 2 --metrics-address "" --drain-delay 0 \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 300); do
  grep -q " ready listen=" "$work/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; fail "the server exited before it was ready"; }
  sleep 0.1
done
grep -q " ready listen=.* workers=2 " "$work/server.log" || { cat "$work/server.log"; fail "the server never became ready"; }
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
cat "$work/server.log"
[[ $status -eq 0 ]] || fail "the server exited with $status after TERM"

echo "== gryphon new --async: coroutine skeletons, built and tested with the preset"
cd "$work"
"$gryphon" new demo_async greeter.proto --async
grep -q "public GreeterAsyncHandler" demo_async/src/greeter.skeleton.h ||
  fail "gryphon new --async did not derive from GreeterAsyncHandler"
grep -q "co_return" demo_async/src/greeter.skeleton.cc || fail "the async skeleton has no coroutine"
(cd demo_async && cmake --workflow --preset default) || fail "the async project did not build and pass"
echo "PASS"
