#!/usr/bin/env bash
# MCP: the official TypeScript SDK client (npm @modelcontextprotocol/sdk)
# drives a running gateway's MCP endpoint, over streamable HTTP with a bearer
# token and through the `femtoclaw mcp` stdio bridge: it lists the tools,
# calls an allowed one (the simulator's pump changes) and a denied one (the
# gate's typed refusal). A request without the token must get 401. The MCP
# Inspector's CLI (npm @modelcontextprotocol/inspector) lists and calls
# tools over both as a second independent client.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=$root/bin/femtoclaw
cache=$root/.cache/interop-mcp
mkdir -p "$cache"
[ -f "$cache/package.json" ] || echo '{"private":true}' >"$cache/package.json"
if [ ! -d "$cache/node_modules/@modelcontextprotocol/sdk" ]; then
  (cd "$cache" && npm install --no-audit --no-fund --silent @modelcontextprotocol/sdk@1.32.2)
fi
cp scripts/interop/mcp/client.mjs "$cache/client.mjs"
# The MCP Inspector's CLI, a second independent client.
icache=$root/.cache/interop-mcp-inspector
mkdir -p "$icache"
[ -f "$icache/package.json" ] || echo '{"private":true}' >"$icache/package.json"
if [ ! -x "$icache/node_modules/.bin/mcp-inspector" ]; then
  (cd "$icache" && npm install --no-audit --no-fund --silent @modelcontextprotocol/inspector@2.12.0)
fi
inspector=$icache/node_modules/.bin/mcp-inspector

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

modbus=$(free_port); mqtt=$(free_port); mcp=$(free_port)
"$bin" sim --modbus "127.0.0.1:$modbus" >"$work/sim.log" 2>&1 &
pids+=($!)
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$work/mcp.token"
token=$(cat "$work/mcp.token")
cp configs/demo-script.json "$work/"
sed -e "s#tcp://127.0.0.1:5020#tcp://127.0.0.1:$modbus#" \
    -e "s#data_dir: /var/lib/femtoclaw#data_dir: $work/data#" \
    -e "s#listen: 127.0.0.1:1883#listen: 127.0.0.1:$mqtt#" \
    -e '/^    trigger:$/d' -e '/^      interval: 2s$/d' \
    configs/demo.yaml >"$work/gw.yaml"
cat >>"$work/gw.yaml" <<YAML

mcp:
  listen: 127.0.0.1:$mcp
  token_file: mcp.token
  allow: [read_tank, set_inlet_pump]
YAML
"$bin" check -c "$work/gw.yaml"
"$bin" run -c "$work/gw.yaml" >"$work/gw.log" 2>&1 &
gw=$!
pids+=($gw)
for _ in $(seq 100); do
  [ -S "$work/data/femtoclaw.sock" ] && break
  sleep 0.1
done
[ -S "$work/data/femtoclaw.sock" ] || { echo "gateway did not start:"; cat "$work/gw.log"; exit 1; }

url="http://127.0.0.1:$mcp/mcp"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' "$url")
[ "$code" = 401 ] || { echo "without a token: got HTTP $code, want 401"; exit 1; }

# The transport's edges: no stream to GET, a session is required after
# initialize, and a browser page of another origin is refused.
hdr=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $token")
code=$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" "$url")
[ "$code" = 405 ] || { echo "GET: got HTTP $code, want 405"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "${hdr[@]}" -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' "$url")
[ "$code" = 400 ] || { echo "without a session: got HTTP $code, want 400"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "${hdr[@]}" -H 'Origin: http://evil.example' \
  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}' "$url")
[ "$code" = 403 ] || { echo "foreign origin: got HTTP $code, want 403"; exit 1; }

echo "--- streamable HTTP"
PUMP_VALUE=70 node "$cache/client.mjs" http "$url" "$token"
echo "--- MCP Inspector CLI (streamable HTTP, then the stdio bridge)"
insp() {
  HOME="$work" MCP_CATALOG_PATH="$work/catalog.json" timeout 60 "$inspector" --cli "$@" >"$work/inspector.out" 2>"$work/inspector.err" \
    || { echo "inspector $*: failed:" >&2; cat "$work/inspector.out" "$work/inspector.err" >&2; return 1; }
  cat "$work/inspector.out"
}
out=$(insp "$url" --transport http --header "Authorization: Bearer $token" --method tools/list)
echo "$out" | tr -d ' \n' | grep -q '"name":"read_tank"' || { echo "inspector tools/list: $out"; exit 1; }
out=$(insp "$url" --transport http --header "Authorization: Bearer $token" --method tools/call --tool-name set_inlet_pump --tool-arg value=62)
echo "$out" | tr -d ' \n' | grep -q '"isError":false' || { echo "inspector tools/call: $out"; exit 1; }
echo "$out" | tr -d ' \n' | grep -q 'value\\":62' || { echo "inspector tools/call: $out"; exit 1; }
# The inspector calls only listed tools: over the bridge, a listed one out
# of its range is refused by the gate (an error result: the CLI exits 1).
out=$(HOME="$work" MCP_CATALOG_PATH="$work/catalog.json" timeout 60 "$inspector" --cli "$bin" mcp --data "$work/data" \
  --method tools/call --tool-name set_inlet_pump --tool-arg value=250 2>&1 || true)
echo "$out" | tr -d ' \n' | grep -q '"isError":true' && echo "$out" | grep -q 'out_of_range' \
  || { echo "inspector over the bridge, refused call: $out"; exit 1; }
echo "inspector: ok"

echo "--- stdio bridge (femtoclaw mcp)"
PUMP_VALUE=55 node "$cache/client.mjs" stdio "$bin" "$work/data"

# The plant itself moved: the operator reads it back through the gate.
out=$("$bin" call --data "$work/data" read_tank)
echo "$out" | grep -q '"tank.inlet_pump":{"unit":"%","value":55}\|"tank.inlet_pump":{"value":55' \
  || { echo "plant does not show the MCP write: $out"; exit 1; }
# Every MCP call is in the journal under its own principal.
kill -TERM "$gw"; wait "$gw" || true
n=$("$bin" journal show --json --data "$work/data" | grep -c '"kind":"decision".*"principal":"mcp"\|"principal":"mcp".*"kind":"decision"' || true)
[ "$n" -ge 6 ] || { echo "got $n journaled decisions of principal mcp, want at least 6"; exit 1; }
echo "mcp: ok"
