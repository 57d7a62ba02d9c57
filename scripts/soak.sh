#!/usr/bin/env bash
# The soak test of the real binary (gateway/soak): installs Debian's
# mosquitto if need be, then runs the gateway under faults for SOAK_FOR
# (default 10m). The report is printed and written to SOAK_REPORT
# (default bin/soak-report.txt). Run as root for the disk-full fault (it
# mounts a tmpfs for the journal).
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_FOR="${SOAK_FOR:-10m}"
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null
fi
bin="${FEMTOCLAW_BIN:-$PWD/bin/femtoclaw}"
[ -x "$bin" ] || make build
# The test's timeout: the soak plus set-up, the final checks and slack.
case "$SOAK_FOR" in
  *h) secs=$(( ${SOAK_FOR%h} * 3600 )) ;;
  *m) secs=$(( ${SOAK_FOR%m} * 60 )) ;;
  *s) secs=${SOAK_FOR%s} ;;
  *) echo "SOAK_FOR=$SOAK_FOR: want whole hours, minutes or seconds (10m, 90s)" >&2; exit 2 ;;
esac
FEMTOCLAW_SOAK=1 SOAK_FOR="$SOAK_FOR" FEMTOCLAW_BIN="$bin" SOAK_REPORT="${SOAK_REPORT:-$PWD/bin/soak-report.txt}" \
  go test -count=1 -v -timeout "$((secs + 300))s" -run '^TestSoak$' ./gateway/soak/
