#!/usr/bin/env bash
# The whole check, as CI runs it: installs Mosquitto and NATS when missing, then fmt, clippy,
# tests, docs.
# Works on a fresh Debian machine with only Rust installed (run as root, or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

# Mosquitto for the end-to-end tests; nats-server (MQTT and JetStream) for the cluster failover
# tests; the openssl command line tool converts test keys to the PKCS#1 and SEC1 formats that the
# mutual-TLS tests load.
packages=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || packages+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || packages+=(mosquitto-clients)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || packages+=(nats-server)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
if [ "${#packages[@]}" -gt 0 ]; then
    echo "==> installing ${packages[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}"
fi
# The Debian packages may start system servers (Mosquitto on 1883, NATS on 4222); tests start
# their own servers on free loopback ports and do not need them.

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --all-features -- -D warnings
echo "==> cargo test"
cargo test --all-features
echo "==> cargo doc"
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --all-features
echo "==> all checks passed"
