#!/usr/bin/env bash
# MQTT against Debian's mosquitto: the real gateway publishes telemetry at
# 100 messages per second while the broker is stopped for MQTT_OUTAGE
# (default 20s here; `make interop-full` runs the 60s of the acceptance
# test), then started again; once more with the gateway SIGKILLed and
# restarted during the outage. 0 lost, 0 duplicates after de-duplication by
# msg_seq, order kept (gateway/telemetry/interop_test.go).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
fi
# The Debian package starts a system broker on 1883; the test uses its own
# brokers on free ports and does not need it.
[ -x bin/femtoclaw ] || make build
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
FEMTOCLAW_INTEROP=1 FEMTOCLAW_BIN="$PWD/bin/femtoclaw" MQTT_OUTAGE="${MQTT_OUTAGE:-20s}" \
  go test -count=1 -v -timeout 10m -run '^TestInteropMosquittoOutage$' ./gateway/telemetry/ >"$out" 2>&1
code=$?
set -e
if [ "$code" -ne 0 ]; then tail -n 60 "$out"; exit 1; fi
grep -E 'interop_test|^--- |^ok' "$out"
echo "mqtt: ok"
