#!/usr/bin/env bash
# Installs the Debian 12 packages gryphon needs to build, run and test.
# Idempotent and quiet: it prints nothing when every package is already there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc
  libprotobuf-dev libprotoc-dev protobuf-compiler libnghttp2-dev zlib1g-dev
  libboost-dev libspdlog-dev libfmt-dev prometheus-cpp-dev
  catch2 libcli11-dev libssl-dev
  grpc-proto nghttp2-client prometheus gnuplot-nox
  procps util-linux python3 python3-yaml nginx-light haproxy nghttp2-proxy openssl curl
  golang-go golang-google-grpc-dev golang-google-protobuf-dev protoc-gen-go-grpc nghttp2-server
  python3-grpcio python3-h2 clang libclang-rt-14-dev strace
  python3-protobuf
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "error: missing packages (${missing[*]}) and not root; run this script as root or install them with apt-get" >&2
    exit 1
  fi
else SUDO=; fi

echo "==> installing ${#missing[@]} Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "==> packages installed"
