#!/bin/sh
# make demo: the seed's UDP server and client talking to each other, as a new
# user would run them in two terminals. The server answers one datagram, exits.
set -u
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout 20 lua5.4 scripts/udp_server.lua --count 1 >"$out" 2>&1 &
server=$!
i=0
until grep -q "Server is running" "$out" 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 $server 2>/dev/null; then
    echo "demo: the server did not start:"; cat "$out"; kill $server 2>/dev/null; exit 1
  fi
  sleep 0.05
done
echo "--- client (lua scripts/udp_client.lua)"
lua5.4 scripts/udp_client.lua
rc=$?
wait $server
echo "--- server (lua scripts/udp_server.lua)"
cat "$out"
exit $rc
