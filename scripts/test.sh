#!/usr/bin/env bash
# The whole check, as CI runs it: installs Mosquitto, NATS and the test proxies when missing,
# then fmt, clippy, tests and docs of every workspace package (the library and the pigeon
# command), and the rust-version check.
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
# python3 reads `cargo metadata` in scripts/msrv-check.sh.
command -v python3 >/dev/null 2>&1 || packages+=(python3)
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
cargo clippy --workspace --all-targets --all-features -- -D warnings
echo "==> cargo test"
cargo test --workspace --all-features
echo "==> cargo doc"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --all-features
echo "==> rust-version"
bash scripts/msrv-check.sh
echo "==> package contents"
# The .crate files hold sources, examples, README, CHANGELOG, licenses and manifests only:
# no tests, benches or their results, CI or helper scripts, configs.
# (Its warnings about the tests and benches left out are expected: shown only on failure.)
warnings="$(mktemp)"
listing="$(cargo package --workspace --list --allow-dirty 2>"$warnings")" || {
    cat "$warnings" >&2
    exit 1
}
rm -f "$warnings"
unexpected="$(grep -vE '^(src/.+\.rs|examples/[^/]+\.rs|README\.md|CHANGELOG\.md|LICENSE-(MIT|APACHE)|Cargo\.toml(\.orig)?|Cargo\.lock|\.cargo_vcs_info\.json)$' <<<"$listing" || true)"
if [ -n "$unexpected" ]; then
    echo "files that do not belong in a .crate (fix the include lists in Cargo.toml):" >&2
    echo "$unexpected" >&2
    exit 1
fi
echo "==> all checks passed"
