#!/usr/bin/env bash
# The whole check, as CI runs it: installs Mosquitto when missing, then fmt, clippy, tests, docs.
# Works on a fresh Debian machine with only Rust installed (run as root, or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

need_install=0
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_install=1
command -v mosquitto_pub >/dev/null 2>&1 || need_install=1
if [ "$need_install" = 1 ]; then
    echo "==> installing mosquitto and mosquitto-clients"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mosquitto mosquitto-clients
fi
# The Debian package starts a system broker on 1883; tests start their own brokers on free
# ports and do not need it.

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --all-features -- -D warnings
echo "==> cargo test"
cargo test --all-features
echo "==> cargo doc"
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --all-features
echo "==> all checks passed"
