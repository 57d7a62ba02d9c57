#!/usr/bin/env bash
# The built binary answers its contract: version, check on every shipped
# config (exit 0) and on a broken one (exit 2), and a short demo (exit 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=./bin/femtoclaw
$bin version
for f in configs/*.yaml; do $bin check -c "$f"; done
set +e
$bin check -c gateway/config/testdata/bad/many.yaml >/dev/null 2>&1; code=$?
set -e
[ "$code" -eq 2 ] || { echo "check on a bad config exited $code, want 2"; exit 1; }
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
out=$($bin demo --for 5s --mqtt "127.0.0.1:$port")
echo "$out" | grep -q "decision" || { echo "demo printed no decision:"; echo "$out"; exit 1; }
echo "$out" | grep -q "actuation" || { echo "demo printed no actuation:"; echo "$out"; exit 1; }
echo "binary: ok"
