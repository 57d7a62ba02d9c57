#!/usr/bin/env bash
# OPC UA: the driver against node-opcua (npm), a server nobody in this
# project wrote. The Go test TestInteropNodeOPCUA starts the server
# (scripts/interop/opcua/server.mjs) on a free loopback port itself, so that
# it can restart it, and checks Basic256Sha256 SignAndEncrypt with a trusted
# client certificate, the most secure endpoint by default, user name login,
# a refused untrusted client certificate, a refused wrong password, a
# refused server certificate, a write of the wrong type, a subscription
# (monitored items) that reports a write, and recovery of reads and of the
# subscription after the server restarts. Then `femtoclaw browse opcua` lists the server's
# nodes through the built binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=$root/bin/femtoclaw
cache=$root/.cache/interop-opcua
mkdir -p "$cache"
[ -f "$cache/package.json" ] || echo '{"private":true}' >"$cache/package.json"
if [ ! -d "$cache/node_modules/node-opcua" ]; then
  (cd "$cache" && npm install --no-audit --no-fund --silent node-opcua@2.186.4)
fi
cp scripts/interop/opcua/server.mjs "$cache/server.mjs"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
srv=
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

set +e
FEMTOCLAW_INTEROP=1 FEMTOCLAW_OPCUA_NODE_DIR="$cache" \
  go test -count=1 -run '^TestInteropNodeOPCUA$' -v ./drivers/opcua/ >"$work/test.log" 2>&1
code=$?
set -e
grep -E '^\s*(---|ok|FAIL|panic)|_test\.go:' "$work/test.log" || true
[ "$code" -eq 0 ] || { echo "go test exited $code:"; tail -n 40 "$work/test.log"; exit 1; }

# The binary's browse command against the same kind of server.
port=$(free_port)
(cd "$cache" && exec node server.mjs "$port" "$work/pki" operator s3cret) >"$work/server.log" 2>&1 &
srv=$!
for _ in $(seq 600); do grep -q '^ready$' "$work/server.log" && break; sleep 0.1; done
grep -q '^ready$' "$work/server.log" || { echo "node-opcua did not start:"; cat "$work/server.log"; exit 1; }
set +e
"$bin" browse opcua "opc.tcp://127.0.0.1:$port" --server-cert "$work/pki/own/certs/certificate.pem" \
  --cert-dir "$work/client" >"$work/refused.out" 2>&1; code=$?
set -e
[ "$code" -eq 1 ] || { echo "browse with an untrusted client certificate exited $code, want 1"; cat "$work/refused.out"; exit 1; }
grep -q BadSecurityChecksFailed "$work/refused.out" || { echo "browse refusal does not say why:"; cat "$work/refused.out"; exit 1; }
# Trust the certificate the server filed under rejected/, as an
# administrator would.
mkdir -p "$work/pki/trusted/certs"
mv "$work/pki/rejected/"*.pem "$work/pki/trusted/certs/"
# The server notices the new trusted certificate within a few seconds.
for i in $(seq 20); do
  if out=$(OPCUA_PW=s3cret "$bin" browse opcua "opc.tcp://127.0.0.1:$port" --server-cert "$work/pki/own/certs/certificate.pem" \
    --cert-dir "$work/client" --policy Basic256Sha256 --mode SignAndEncrypt --username operator --password env:OPCUA_PW \
    --snippet 2>"$work/browse.err"); then
    break
  fi
  [ "$i" -lt 20 ] || { echo "browse with the trusted certificate failed:"; cat "$work/browse.err"; exit 1; }
  sleep 0.5
done
echo "$out" | grep -q 'node: "ns=1;s=Pump.Speed"' || { echo "browse snippet lacks Pump.Speed:"; echo "$out"; exit 1; }
echo "$out" | grep -A3 'ns=1;s=Pump.Speed' | grep -q 'writable: true' || { echo "Pump.Speed not writable in the snippet:"; echo "$out"; exit 1; }
echo "opcua: ok"
