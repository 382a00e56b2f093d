#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, builds tests/install/consumer against it with
# find_package(gryphon), then runs the result as a real server: ready, health SERVING, TERM, exit 0.
set -euo pipefail
build_dir=$1
source_dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/gryphon-install-XXXXXX)
trap 'kill -9 $server 2>/dev/null || true; rm -rf "$work"' EXIT
server=

echo "-- installing into $work/prefix"
cmake --install "$build_dir" --prefix "$work/prefix" >"$work/install.log"
echo "-- configuring and building the consumer"
cmake -S "$source_dir/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/configure.log" 2>&1 \
  || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j 2 >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }

echo "-- running the consumer"
"$work/build/consumer" --listen 127.0.0.1:0 --workers 1 --metrics-address "" --drain-delay 0s >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 200); do
  grep -q " ready listen=" "$work/server.log" && break
  kill -0 $server 2>/dev/null || { cat "$work/server.log"; echo "consumer exited before it was ready"; exit 1; }
  sleep 0.05
done
grep " ready listen=" "$work/server.log" || { cat "$work/server.log"; echo "consumer not ready in 10s"; exit 1; }
kill -TERM $server
wait $server && code=0 || code=$?
cat "$work/server.log"
[ "$code" -eq 0 ] || { echo "consumer exited with $code after TERM, expected 0"; exit 1; }
echo "-- the installed package builds and serves"
