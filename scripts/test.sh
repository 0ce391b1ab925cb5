#!/usr/bin/env bash
# The whole check, as CI runs it: installs Mosquitto when missing, then fmt, clippy, tests and
# docs of every workspace package (the library and the pigeon command), and the rust-version
# check.
# Works on a fresh Debian machine with only Rust installed (run as root, or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

# Mosquitto for the end-to-end tests; the openssl command line tool converts test keys to the
# PKCS#1 and SEC1 formats that the mutual-TLS tests load.
packages=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || packages+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || packages+=(mosquitto-clients)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
# python3 reads `cargo metadata` in scripts/msrv-check.sh.
command -v python3 >/dev/null 2>&1 || packages+=(python3)
if [ "${#packages[@]}" -gt 0 ]; then
    echo "==> installing ${packages[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}"
fi
# The Debian package starts a system broker on 1883; tests start their own brokers on free
# ports and do not need it.

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
