#!/usr/bin/env bash
# Runs the `subscribe` example against a broker, publishes {"data":111} to /mq/pub with
# mosquitto_pub, and shows what the example printed. When nothing listens on the broker address
# it installs (if needed) and starts a private Mosquitto on loopback, and stops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=127.0.0.1
PORT=${PORT:-1883}

if ! command -v mosquitto_pub >/dev/null 2>&1 || { ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; }; then
    echo "==> installing mosquitto and mosquitto-clients"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mosquitto mosquitto-clients
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

tmp=$(mktemp -d)
broker_pid=""
example_pid=""
cleanup() {
    [ -n "$example_pid" ] && kill "$example_pid" 2>/dev/null || true
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

listening() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }
if listening; then
    echo "==> using the broker already listening on $HOST:$PORT"
else
    echo "==> starting a private Mosquitto on $HOST:$PORT"
    printf 'listener %s %s\nallow_anonymous true\nuser root\n' "$PORT" "$HOST" > "$tmp/mosquitto.conf"
    "$MOSQUITTO" -c "$tmp/mosquitto.conf" > "$tmp/broker.log" 2>&1 &
    broker_pid=$!
    for _ in $(seq 1 50); do listening && break; sleep 0.1; done
    listening || { cat "$tmp/broker.log"; echo "Mosquitto did not start"; exit 1; }
fi

cargo build --quiet --example subscribe
MQTT_URL="mqtt://$HOST:$PORT" ./target/debug/examples/subscribe > "$tmp/out.txt" 2>&1 &
example_pid=$!
for _ in $(seq 1 100); do grep -q "Connected with result code" "$tmp/out.txt" && break; sleep 0.1; done
sleep 0.3   # the subscription is sent right after CONNACK
mosquitto_pub -h "$HOST" -p "$PORT" -t /mq/pub -m '{"data":111}'
for _ in $(seq 1 50); do grep -q '/mq/pub' "$tmp/out.txt" && break; sleep 0.1; done
echo "==> the example printed:"
cat "$tmp/out.txt"
grep -q '/mq/pub {"data":111}' "$tmp/out.txt"
