#!/usr/bin/env bash
# Sparkplug B against peers nobody in this project wrote: the real gateway
# (femtoclaw run, the simulator behind Modbus TCP) runs its edge node on
# Debian's mosquitto; mosquitto_sub records every spBv1.0 message and the npm
# decoder sparkplug-payload (1.0.3) decodes NBIRTH, DBIRTH, DDATA and NDEATH:
# the metrics of every point, their types and values, seq 0-255 without a
# gap, bdSeq the same in NBIRTH and NDEATH. A DCMD encoded by the same npm
# package, sent while the sparkplug principal may call nothing, is refused:
# the plant keeps its value, the decision is published and journaled.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin=$root/bin/femtoclaw
if [ ! -x /usr/sbin/mosquitto ] || ! command -v mosquitto_sub >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null
fi
cache=$root/.cache/npm
mkdir -p "$cache"
[ -f "$cache/package.json" ] || echo '{"private":true}' >"$cache/package.json"
if [ ! -d "$cache/node_modules/sparkplug-payload" ]; then
  (cd "$cache" && npm install --no-audit --no-fund --silent sparkplug-payload@1.0.3)
fi
[ -x "$bin" ] || make build

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
  local secs=$1 what=$2; shift 2
  for _ in $(seq $((secs * 10))); do "$@" && return 0; sleep 0.1; done
  echo "sparkplug: no $what after ${secs}s"; return 1
}

modbus=$(free_port); mq=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$mq" >"$work/mosquitto.conf"
/usr/sbin/mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
"$bin" sim --modbus "127.0.0.1:$modbus" >"$work/sim.log" 2>&1 &
pids+=($!)
wait_for 10 "mosquitto on $mq" /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1',$mq),0.2)"

# The demo config: the simulator's address, mosquitto as the broker, the
# edge node on, agents without triggers, and no sparkplug allow list.
cp configs/demo-script.json "$work/"
sed -e "s#tcp://127.0.0.1:5020#tcp://127.0.0.1:$modbus#" \
    -e "s#data_dir: /var/lib/femtoclaw#data_dir: $work/data#" \
    -e "s#^  broker: \"\"#  broker: tcp://127.0.0.1:$mq\n  sparkplug: {group_id: plant, edge_node_id: gw1}#" \
    -e 's#^    poll: 1s#    poll: 200ms#' \
    -e '/^    trigger:$/d' -e '/^      interval: 2s$/d' \
    configs/demo.yaml >"$work/gw.yaml"
"$bin" check -c "$work/gw.yaml"

# Record before the gateway starts, so that its first NBIRTH is seen.
mosquitto_sub -h 127.0.0.1 -p "$mq" -q 1 -t 'spBv1.0/#' -F '%t %x' >"$work/spb.txt" 2>"$work/sub.log" &
pids+=($!)
mosquitto_sub -h 127.0.0.1 -p "$mq" -q 1 -t 'femtoclaw/demo/decisions' >"$work/decisions.txt" 2>>"$work/sub.log" &
pids+=($!)
sleep 0.5
"$bin" run -c "$work/gw.yaml" >"$work/gw.log" 2>&1 &
gw=$!
pids+=($gw)

ddata() { [ "$(grep -c '^spBv1.0/plant/DDATA/gw1/tank ' "$work/spb.txt" 2>/dev/null || true)" -ge "$1" ]; }
wait_for 20 "DBIRTH of tank" grep -q '^spBv1.0/plant/DBIRTH/gw1/tank ' "$work/spb.txt" || { cat "$work/gw.log"; exit 1; }
wait_for 20 "5 DDATA of tank" ddata 5 || { cat "$work/gw.log"; exit 1; }

# A DCMD from a host application: inlet pump to 70 %, heater on. The
# sparkplug principal may call nothing: both are refused.
before=$("$bin" probe modbus "tcp://127.0.0.1:$modbus" --holding 4 | awk '/uint16/ {print $3; exit}')
(cd "$cache" && node -e '
const sp = require("sparkplug-payload").get("spBv1.0");
process.stdout.write(Buffer.from(sp.encodePayload({timestamp: Date.now(), metrics: [
  {name: "inlet_pump", type: "Double", value: 70},
  {name: "heater", type: "Boolean", value: true}]})));
') >"$work/dcmd.bin"
mosquitto_pub -h 127.0.0.1 -p "$mq" -q 1 -t spBv1.0/plant/DCMD/gw1/tank -f "$work/dcmd.bin"
refused() { [ "$(grep -c '"principal":"sparkplug".*"outcome":"deny","reason":"not_allowed"' "$work/decisions.txt" 2>/dev/null || true)" -ge 2 ]; }
wait_for 10 "refusal of the DCMD on femtoclaw/demo/decisions" refused || { cat "$work/decisions.txt"; tail -20 "$work/gw.log"; exit 1; }
after=$("$bin" probe modbus "tcp://127.0.0.1:$modbus" --holding 4 | awk '/uint16/ {print $3; exit}')
[ "$after" = "$before" ] || { echo "sparkplug: inlet pump went from $before to $after after a refused DCMD"; exit 1; }
echo "sparkplug: DCMD refused (inlet pump stays $after), decision published"

kill -TERM "$gw"
wait "$gw" || { echo "sparkplug: gateway did not stop cleanly"; tail -20 "$work/gw.log"; exit 1; }
wait_for 5 NDEATH grep -q '^spBv1.0/plant/NDEATH/gw1 ' "$work/spb.txt"
n=$("$bin" journal show --json --data "$work/data" | grep '"principal":"sparkplug"' | grep -c '"not_allowed"' || true)
[ "$n" -ge 2 ] || { echo "sparkplug: want 2 refused sparkplug decisions in the journal, got $n"; exit 1; }
echo "sparkplug: journal holds the $n refused sparkplug decisions"

# Decode everything with the npm decoder and check it.
cp "$work/spb.txt" "$cache/spb.txt"
(cd "$cache" && node -e '
const sp = require("sparkplug-payload").get("spBv1.0");
const num = v => (v && typeof v === "object" && "low" in v) ? Number(BigInt.asUintN(64, (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0))) : v;
const fail = m => { console.error("sparkplug: " + m); process.exit(1); };
const lines = require("fs").readFileSync("spb.txt", "utf8").trim().split("\n");
const msgs = lines.map(l => { const [topic, hex] = l.split(" "); return {topic, typ: topic.split("/")[2], p: sp.decodePayload(Buffer.from(hex, "hex"))}; })
  .filter(m => !m.typ.endsWith("CMD"));
const metric = (p, name) => p.metrics.find(m => m.name === name);
if (msgs[0].typ !== "NBIRTH") fail("first message is " + msgs[0].topic + ", want NBIRTH");
const nb = msgs[0].p;
if (num(nb.seq) !== 0) fail("NBIRTH seq " + num(nb.seq) + ", want 0");
const bd = metric(nb, "bdSeq");
if (!bd || bd.type !== "UInt64") fail("NBIRTH without a UInt64 bdSeq: " + JSON.stringify(nb.metrics));
const rb = metric(nb, "Node Control/Rebirth");
if (!rb || rb.type !== "Boolean" || rb.value !== false) fail("NBIRTH Node Control/Rebirth: " + JSON.stringify(rb));
const db = msgs.find(m => m.topic === "spBv1.0/plant/DBIRTH/gw1/tank");
const want = {level: "Double", temperature: "Double", inlet_pump: "Double", outlet_valve: "Double",
  heater_setpoint: "Double", total_inflow: "Double", heater: "Boolean", high_level_alarm: "Boolean"};
for (const [name, type] of Object.entries(want)) {
  const m = metric(db.p, name);
  if (!m || m.type !== type) fail("DBIRTH tank " + name + ": " + JSON.stringify(m) + ", want type " + type);
}
// seq counts every message of the node from its NBIRTH, 0-255, no gap.
let seq = 0, ddata = 0, levels = [];
for (const m of msgs) {
  if (m.typ === "NDEATH") { if (m.p.seq != null) fail("NDEATH with a seq"); continue; }
  if (num(m.p.seq) !== seq) fail(m.topic + " seq " + num(m.p.seq) + ", want " + seq);
  if (!m.p.timestamp) fail(m.topic + " without a timestamp");
  seq = (seq + 1) % 256;
  if (m.topic === "spBv1.0/plant/DDATA/gw1/tank") {
    ddata++;
    const l = metric(m.p, "level");
    if (l && !l.isNull) levels.push(l.value);
    const p = metric(m.p, "inlet_pump");
    if (p && p.value === 70) fail("DDATA shows the inlet pump at 70: a refused DCMD reached the plant");
  }
}
if (levels.length === 0) fail("no level in any DDATA");
if (levels.some(l => typeof l !== "number" || l < 0 || l > 100)) fail("levels out of 0..100: " + levels);
const nd = msgs[msgs.length - 1];
if (nd.typ !== "NDEATH") fail("last message is " + nd.topic + ", want NDEATH");
if (num(metric(nd.p, "bdSeq").value) !== num(bd.value)) fail("NDEATH bdSeq " + num(metric(nd.p, "bdSeq").value) + ", NBIRTH bdSeq " + num(bd.value));
console.log("sparkplug: decoded " + msgs.length + " messages (NBIRTH, " + msgs.filter(m => m.typ === "DBIRTH").length + " DBIRTH, " + ddata +
  " DDATA of tank, NDEATH); seq 0.." + ((seq + 255) % 256) + " without a gap; bdSeq " + num(bd.value) + "; level " + levels[0].toFixed(2) + " .. " + levels[levels.length - 1].toFixed(2) + " %");
')
echo "sparkplug: ok"
