#!/bin/sh
# Start dnsmasq on loopback serving the test zone (tests/peers/dnsmasq.conf), in the foreground.
#
#   tests/peers/dnsmasq.sh PORT [DIR]
#
# For poking at the data by hand, e.g. `dig @127.0.0.1 -p PORT example.test MX`. The Rust tests
# start their own instances (tests/src/dnsmasq.rs) with the same data, so this script and they
# cannot drift apart. Queries for timeout.test are forwarded to 127.0.0.1:9, where nothing
# answers. Stop it with Ctrl-C, or by the PID in DIR/dnsmasq.pid.
set -eu
port=${1:?usage: dnsmasq.sh PORT [DIR]}
dir=${2:-$(mktemp -d /tmp/mxsend-dnsmasq.XXXXXX)}
mkdir -p "$dir"
here=$(cd "$(dirname "$0")" && pwd)
bin=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
if [ ! -x "$bin" ]; then
    echo "dnsmasq is not installed: run scripts/install-peers (it installs dnsmasq-base)" >&2
    exit 1
fi
big=""
i=1
while [ "$i" -le 100 ]; do
    big="$big --host-record=big.test,127.0.0.$((99 + i))"
    i=$((i + 1))
done
echo "dnsmasq on 127.0.0.1:$port, files in $dir" >&2
# shellcheck disable=SC2086 # $big is a list of arguments
exec "$bin" --conf-file="$here/dnsmasq.conf" --keep-in-foreground --port="$port" \
    --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts --no-poll \
    --pid-file="$dir/dnsmasq.pid" --log-facility=- --log-queries \
    --server=/timeout.test/127.0.0.1#9 $big
