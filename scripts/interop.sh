#!/usr/bin/env bash
# Interop tests against peers nobody in this project wrote. Each peer is
# installed here (apt-get, npm) and started on a free loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "interop: no peer suites yet (Modbus pymodbus/mbpoll, OPC UA node-opcua, mosquitto and MCP land with the drivers, telemetry and brain work)"
echo "interop: checking the built binary answers"
./bin/femtoclaw version
