#!/usr/bin/env bash
# Installs every Debian package tandem needs to build, test and benchmark.
# Idempotent: only what is missing is installed. Needs root (or sudo) when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  clang libclang-rt-14-dev llvm
  openssl liburing-dev libmimalloc-dev libsimdjson-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  liblz4-dev libsnappy-dev libssl-dev zlib1g-dev libzip-dev libcurl4-openssl-dev libxxhash-dev
  libyaml-cpp-dev libcli11-dev libfmt-dev libspdlog-dev libcpp-httplib-dev
  python3-cassandra python3-lz4 python3-snappy
  golang-go golang-github-gocql-gocql-dev
  haproxy gnuplot-nox
  python3-yaml ansible ansible-lint prometheus lintian help2man fakeroot systemd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

node_modules() {
  # The Node.js driver for the end-to-end tests, pinned by tests/e2e/node/package-lock.json.
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e/node"
  if [ ! -d "$dir/node_modules/cassandra-driver" ]; then
    command -v npm >/dev/null || { echo "setup: npm is missing (Node.js 20 and npm are expected on the machine)" >&2; exit 1; }
    echo "setup: npm ci in tests/e2e/node"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  node_modules
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
node_modules
echo "setup: done"
