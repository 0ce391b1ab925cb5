#!/usr/bin/env bash
# The whole check, as CI runs it: installs Mosquitto, NATS and the test proxies when missing,
# then fmt, clippy, tests, docs.
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
# Real proxies for tests/proxy.rs: tinyproxy (HTTP CONNECT) and Dante (SOCKS5).
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || packages+=(tinyproxy)
command -v danted >/dev/null 2>&1 || [ -x /usr/sbin/danted ] || packages+=(dante-server)
if [ "${#packages[@]}" -gt 0 ]; then
    echo "==> installing ${packages[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}"
fi
# The Debian packages may start system servers (Mosquitto on 1883, NATS on 4222, tinyproxy on
# 8888, Dante on 1080); tests start their own servers on free loopback ports and do not need them.

# Dante checks SOCKS5 user names and passwords against the system password database, so the
# proxy tests log in as a dedicated system user (no home, no shell); its password is set each
# run. Keep both in step with SOCKS_USER / SOCKS_PASSWORD in tests/support/proxy.rs.
SOCKS_USER=pigeon-proxy-test
SOCKS_PASSWORD='pigeon@proxy-secret'
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if ! getent passwd "$SOCKS_USER" >/dev/null; then
    echo "==> creating the system user $SOCKS_USER for the SOCKS5 proxy tests"
    PATH="$PATH:/usr/sbin:/sbin" $SUDO useradd --system --no-create-home \
        --shell /usr/sbin/nologin "$SOCKS_USER"
fi
echo "$SOCKS_USER:$SOCKS_PASSWORD" | PATH="$PATH:/usr/sbin:/sbin" $SUDO chpasswd

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --all-features -- -D warnings
echo "==> cargo test"
cargo test --all-features
echo "==> cargo doc"
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --all-features
echo "==> all checks passed"
