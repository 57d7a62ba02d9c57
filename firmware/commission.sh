#!/bin/sh
# femtoclaw commissioning: install the config a technician placed on the boot
# partition, if and only if it passes `femtoclaw check`.
#
# Usage: commission [--root DIR] [--no-systemctl] [FILE]
#   FILE  the placed config (default /boot/firmware/femtoclaw.yaml)
#   --root DIR       operate on the system installed under DIR (image builds, tests)
#   --no-systemctl   do not reload or restart services
#
# Files the config names by relative path (a brain's script, ...) go in the
# folder femtoclaw/ beside FILE; they are copied next to the config.
#
# The config set is staged as /etc/femtoclaw.new (the current files, then the
# placed ones), checked there, so that relative names resolve exactly as they
# will in service, and swapped in whole; the set it replaces is kept as
# /etc/femtoclaw.prev. A refused config changes nothing in /etc: the reasons go
# to femtoclaw.errors.txt beside FILE, to the log, and to
# /var/lib/femtoclaw/commissioning.status, which the running gateway
# publishes retained on <prefix>/commissioning. Exit 0: applied or nothing to
# do; 1: refused; 2: bad usage or broken installation.
set -eu

root=""
reload=1
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    --no-systemctl) reload=0; shift ;;
    -h|--help) sed -n '2,21s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "commission: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -le 1 ] || { echo "commission: one FILE at most" >&2; exit 2; }
src=${1:-/boot/firmware/femtoclaw.yaml}
[ -z "$root" ] || root=$(cd "$root" && pwd)

bootdir=$(dirname "$src")
etc=$root/etc/femtoclaw
state=$root/var/lib/femtoclaw
bin=$root/usr/local/bin/femtoclaw
dropin_dir=$root/etc/systemd/system/femtoclaw.service.d
dropin=$dropin_dir/50-commissioned.conf
errors=$root$bootdir/femtoclaw.errors.txt
applied=$root$bootdir/femtoclaw.applied.txt
companions=$root$bootdir/femtoclaw

log() { echo "femtoclaw-commission: $*" >&2; }

if [ ! -f "$root$src" ]; then
  log "no $src: nothing to commission"
  exit 0
fi
[ -x "$bin" ] || { log "$bin missing: femtoclaw is not installed"; exit 2; }
uid=$(awk -F: '$1 == "femtoclaw" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "femtoclaw" { print $3 }' "$root/etc/group")
[ -n "$uid" ] && [ -n "$gid" ] || { log "no femtoclaw user or group: femtoclaw is not installed"; exit 2; }

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sha=$(sha256sum < "$root$src" | cut -d' ' -f1)

# status RESULT [PROBLEMS-FILE] writes the outcome for the gateway to publish.
status() {
  mkdir -p "$state"
  chown "$uid:$gid" "$state"
  chmod 0750 "$state"
  {
    echo "result: $1"
    echo "time: $now"
    echo "source: $src"
    echo "sha256: $sha"
    echo "problems:"
    [ -z "${2:-}" ] || cat "$2"
  } > "$state/commissioning.status.tmp"
  chmod 0644 "$state/commissioning.status.tmp"
  mv -f "$state/commissioning.status.tmp" "$state/commissioning.status"
}

stage=$etc.new
rm -rf "$stage"
mkdir -p "$stage"
[ ! -d "$etc" ] || cp -R "$etc/." "$stage/"
[ ! -d "$companions" ] || cp -R "$companions/." "$stage/"
cp "$root$src" "$stage/config.yaml"

problems=$stage/.problems
if "$bin" check -c "$stage/config.yaml" > "$stage/.check" 2>&1; then
  : > "$problems"
else
  # Keep the FILE:LINE:COL lines, named as the technician knows the file.
  grep -v '^femtoclaw: [0-9]* problem(s) in ' "$stage/.check" | sed "s|$stage/config.yaml|$src|g; s|$stage/|$bootdir/femtoclaw/|g" > "$problems" || true
  [ -s "$problems" ] || sed "s|$stage/config.yaml|$src|g" "$stage/.check" > "$problems"
fi
# The service may write only /var/lib/femtoclaw.
grep -n '^[[:space:]]*data_dir:' "$stage/config.yaml" | while IFS=: read -r line rest; do
  dir=$(echo "$rest" | sed 's/^[[:space:]]*data_dir:[[:space:]]*//; s/[[:space:]]*#.*$//; s/^["'\'']//; s/["'\'']$//')
  case $dir in /var/lib/femtoclaw|/var/lib/femtoclaw/) ;; *)
    echo "$src:$line:1: gateway.data_dir: \"$dir\": the service may write only /var/lib/femtoclaw; remove the line or set that" ;;
  esac
done >> "$problems"

if [ -s "$problems" ]; then
  {
    echo "femtoclaw refused this config at $now; the previous config still runs."
    echo "Fix every problem below, place the file again as $src and reboot."
    echo
    cat "$problems"
  } > "$errors"
  status refused "$problems"
  while IFS= read -r p; do log "refused: $p"; done < "$problems"
  rm -rf "$stage"
  exit 1
fi
rm -f "$problems" "$stage/.check"

# The groups the configured drivers need, where the system has them.
groups=""
if grep -Eq '^[[:space:]]*(-[[:space:]]+)?url:[[:space:]]*["'\'']?rtu://' "$stage/config.yaml"; then groups="$groups dialout"; fi
if grep -Eq '^[[:space:]]*(-[[:space:]]+)?driver:[[:space:]]*["'\'']?gpio' "$stage/config.yaml"; then groups="$groups gpio"; fi
have=""
for g in $groups; do
  if grep -q "^$g:" "$root/etc/group"; then have="$have $g"; else log "group $g wanted by the config does not exist here"; fi
done
want=""
[ -z "$have" ] || want=$(printf '%s\n' "# Written by femtoclaw-commission from the config's drivers." "[Service]" "SupplementaryGroups=${have# }")
old=""
[ ! -f "$dropin" ] || old=$(cat "$dropin")
changed=0
if [ "$want" != "$old" ]; then
  changed=1
  if [ -n "$want" ]; then
    mkdir -p "$dropin_dir"
    printf '%s\n' "$want" > "$dropin"
    chmod 0644 "$dropin"
  else
    rm -f "$dropin"
  fi
fi

chown -R "0:$gid" "$stage"
chmod 0750 "$stage"
find "$stage" -type f -exec chmod 0640 {} +
rm -rf "$etc.prev"
[ ! -d "$etc" ] || mv "$etc" "$etc.prev"
mv "$stage" "$etc"
sync

rm -f "$root$src" "$errors"
rm -rf "$companions"
{
  echo "femtoclaw applied this config at $now (sha256 $sha)."
  echo "It is now /etc/femtoclaw/config.yaml; the previous one is in /etc/femtoclaw.prev."
} > "$applied"
status applied
log "applied $src (sha256 $sha)${have:+; supplementary groups:$have}"

if [ "$reload" = 1 ] && [ -z "$root" ] && [ -d /run/systemd/system ]; then
  [ "$changed" = 0 ] || systemctl daemon-reload
  systemctl try-restart --no-block femtoclaw.service
fi
