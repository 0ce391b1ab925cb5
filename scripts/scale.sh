#!/usr/bin/env bash
# Scale showcase (not part of CI): as many concurrent connections from one `pigeon bench conn`
# process as its open-file limit allows, against a private Mosquitto on loopback.
#
#   scripts/scale.sh [CONNECTIONS] [-- EXTRA BENCH FLAGS]
#
# CONNECTIONS defaults to the hard open-file limit minus 100 (19,900 where the hard limit is
# 20,000). Prints the bench report: connections made and failed, connections per second,
# connect latency, this process's memory per connection (RssAnon and VmRSS growth divided by
# the connections), and Mosquitto's own VmRSS growth per connection (--broker-pid). The
# connections come from 127.0.0.1 and 127.0.0.2 in turn (--ifaddr), which Linux routes on
# loopback without any setup.
set -euo pipefail
cd "$(dirname "$0")/.."

hard="$(ulimit -Hn)"
if [ "$hard" = unlimited ]; then
    hard=1048576
fi
# Both this shell's children (the broker and the bench) get the whole hard limit.
ulimit -n "$hard"
connections="${1:-$((hard - 100))}"
shift $(( $# > 0 ? 1 : 0 ))
[ "${1:-}" = "--" ] && shift

mosquitto_bin="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
if [ ! -x "$mosquitto_bin" ]; then
    echo "mosquitto not found: install it with \`apt-get install -y mosquitto\`" >&2
    exit 1
fi

echo "==> building pigeon (release)"
cargo build --release -q -p pigeon-mqtt-cli
pigeon="target/release/pigeon"

# A free port on 127.0.0.1 (nothing answers on it).
port=18830
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
done

dir="$(mktemp -d -t pigeon-scale-XXXXXX)"
broker_pid=""
cleanup() {
    if [ -n "$broker_pid" ]; then
        kill -TERM "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/mosquitto.conf" <<EOF
# Running as root: stay root (the log is in a root-owned temp dir).
user root
listener $port 127.0.0.1
allow_anonymous true
max_connections -1
persistence false
set_tcp_nodelay true
connection_messages false
log_dest file $dir/mosquitto.log
log_type error
log_type warning
EOF

echo "==> mosquitto on 127.0.0.1:$port (open-file limit $(ulimit -n))"
"$mosquitto_bin" -c "$dir/mosquitto.conf" &
broker_pid=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        break
    fi
    sleep 0.1
done

# Sockets bound to a local address (--ifaddr) cannot take a port still in TIME_WAIT, and the
# previous run's 20,000 closed connections hold that many for 60 s: let them expire first, or
# the connection rate measured is that of a port search.
time_wait() {
    awk '/^TCP:/ { for (i = 1; i < NF; i++) if ($i == "tw") print $(i + 1) }' /proc/net/sockstat
}
if [ "$(time_wait)" -gt 1000 ]; then
    echo "==> waiting for $(time_wait) sockets in TIME_WAIT to expire (up to 70 s)"
    for _ in $(seq 70); do
        [ "$(time_wait)" -le 1000 ] && break
        sleep 1
    done
fi

echo "==> pigeon bench conn -c $connections"
"$pigeon" bench conn -h 127.0.0.1 -p "$port" -c "$connections" \
    --ifaddr 127.0.0.1,127.0.0.2 --broker-pid "$broker_pid" --hold 3 "$@"
