#!/usr/bin/env bash
# README command 1: install what is missing, build, and start the greeter example as a real
# service — a master with pre-forked workers, metrics on — in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."

LISTEN=${GRYPHON_EXAMPLE_LISTEN:-127.0.0.1:50051}
METRICS=${GRYPHON_EXAMPLE_METRICS:-127.0.0.1:9394}
BUILD=${GRYPHON_BUILD_DIR:-build}

./scripts/install-deps.sh
echo "==> configuring $BUILD/"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$BUILD.configure.log" 2>&1 \
  || { cat "$BUILD.configure.log"; echo "error: cmake configure failed (log above)" >&2; exit 1; }
echo "==> building the greeter (this takes a few minutes the first time)"
cmake --build "$BUILD" --target greeter_server greeter_client -j "$(nproc)"

cat <<EOT

==> starting build/examples/greeter/greeter_server: a master and $(nproc) workers
    call it:     $BUILD/examples/greeter/greeter_client --target $LISTEN --name you
    metrics:     curl http://$METRICS/metrics
    health:      any grpc.health.v1 client against $LISTEN
    stop:        Ctrl-C (graceful drain), or kill -TERM <master pid>; see README "Signals"

EOT
exec "$BUILD/examples/greeter/greeter_server" --listen "$LISTEN" --metrics-address "$METRICS" "$@"
