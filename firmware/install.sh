#!/bin/sh
# femtoclaw install script, shipped in every release bundle beside the files
# it installs. Run it as root from the unpacked bundle.
#
# Usage: install.sh [--root DIR] [--no-start] [install|upgrade|rollback|status]
#   install, upgrade  install this bundle; an installed femtoclaw is upgraded in
#                     place: its binary is kept as femtoclaw.prev, the config
#                     (/etc/femtoclaw) and the journal (/var/lib/femtoclaw) are
#                     never touched. Live, a service that does not come up
#                     again after an upgrade is rolled back at once.
#   rollback          swap the binary and femtoclaw.prev (twice: forward again)
#   status            print the installed and the previous version
#   --root DIR        install into the system under DIR (an image being built,
#                     a test); nothing is started
#   --no-start        do not start or restart the service
#
# Installed files:
#   /usr/local/bin/femtoclaw[.prev]             the binary (0755)
#   /usr/local/lib/femtoclaw/commission         the commissioning script (0755)
#   /usr/local/lib/sysusers.d/femtoclaw.conf    the femtoclaw system user
#   /etc/systemd/system/femtoclaw.service, femtoclaw-commission.service (enabled)
#   /etc/femtoclaw/config.yaml                  only when absent (root:femtoclaw 0640)
#   /usr/local/share/femtoclaw/                 VERSION[.prev], default and example configs
#   /usr/local/share/doc/femtoclaw/COMMISSIONING.md
#   /var/lib/femtoclaw/                         the journal (femtoclaw:femtoclaw 0750)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=""
start=1
action=install
while [ $# -gt 0 ]; do
  case $1 in
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,30s/^# \{0,1\}//p' "$0"; exit 0 ;;
    install|upgrade|rollback|status) action=$1; shift ;;
    *) echo "install.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
if [ -n "$root" ]; then
  [ -d "$root" ] || { echo "install.sh: $root is not a directory" >&2; exit 2; }
  root=$(cd "$root" && pwd)
  start=0
fi

bin=$root/usr/local/bin/femtoclaw
share=$root/usr/local/share/femtoclaw
units=$root/etc/systemd/system
etc=$root/etc/femtoclaw
state=$root/var/lib/femtoclaw

log() { echo "install.sh: $*" >&2; }
die() { log "$*"; exit 1; }
# live reports whether this installs into the running system under systemd.
live() { [ -z "$root" ] && [ -d /run/systemd/system ]; }

[ "$(id -u)" = 0 ] || die "run me as root"

version_of() { cat "$1" 2>/dev/null || echo none; }

do_status() {
  echo "installed: $(version_of "$share/VERSION")"
  echo "previous:  $(version_of "$share/VERSION.prev")"
}

do_rollback() {
  [ -f "$bin.prev" ] || die "no previous binary to roll back to"
  mv -f "$bin" "$bin.swap"
  mv -f "$bin.prev" "$bin"
  mv -f "$bin.swap" "$bin.prev"
  if [ -f "$share/VERSION.prev" ]; then
    mv -f "$share/VERSION" "$share/VERSION.swap" 2>/dev/null || : > "$share/VERSION.swap"
    mv -f "$share/VERSION.prev" "$share/VERSION"
    mv -f "$share/VERSION.swap" "$share/VERSION.prev"
  fi
  log "rolled back to $(version_of "$share/VERSION"); $(version_of "$share/VERSION.prev") is now the previous"
  if live && [ "$start" = 1 ]; then systemctl try-restart femtoclaw.service; fi
}

# ensure_user creates the femtoclaw system user and group.
ensure_user() {
  install -D -m 0644 "$here/femtoclaw.sysusers" "$root/usr/local/lib/sysusers.d/femtoclaw.conf"
  if command -v systemd-sysusers >/dev/null 2>&1; then
    # The file is named as seen from here; --root is where users are made.
    systemd-sysusers ${root:+--root="$root"} "$root/usr/local/lib/sysusers.d/femtoclaw.conf"
  elif ! grep -q '^femtoclaw:' "$root/etc/passwd" 2>/dev/null; then
    useradd ${root:+--prefix "$root"} --system --user-group --home-dir /var/lib/femtoclaw \
      --no-create-home --shell /usr/sbin/nologin --comment "femtoclaw gateway" femtoclaw
  fi
  uid=$(awk -F: '$1 == "femtoclaw" { print $3 }' "$root/etc/passwd")
  gid=$(awk -F: '$1 == "femtoclaw" { print $3 }' "$root/etc/group")
  [ -n "$uid" ] && [ -n "$gid" ] || die "could not create the femtoclaw user"
}

do_install() {
  (cd "$here" && sha256sum --check --quiet --strict SHA256SUMS) || die "the bundle does not match its SHA256SUMS"
  new_version=$(cat "$here/VERSION")
  if [ -z "$root" ]; then
    "$here/femtoclaw" version >/dev/null 2>&1 || die "this bundle's binary does not run on this machine (wrong architecture?)"
  fi
  ensure_user

  install -d -m 0755 "$root/usr/local/bin" "$root/usr/local/lib/femtoclaw" "$share" "$root/usr/local/share/doc/femtoclaw" "$units"
  upgraded=0
  if [ -f "$bin" ] && ! cmp -s "$here/femtoclaw" "$bin"; then
    cp -p "$bin" "$bin.prev"
    cp -p "$share/VERSION" "$share/VERSION.prev" 2>/dev/null || echo unknown > "$share/VERSION.prev"
    upgraded=1
  fi
  install -m 0755 "$here/femtoclaw" "$bin.new"
  mv -f "$bin.new" "$bin"
  install -m 0644 "$here/VERSION" "$share/VERSION"
  install -m 0755 "$here/commission.sh" "$root/usr/local/lib/femtoclaw/commission"
  install -m 0644 "$here/femtoclaw.service" "$here/femtoclaw-commission.service" "$units/"
  install -m 0644 "$here/config.yaml" "$share/config.default.yaml"
  install -m 0644 "$here/example.yaml" "$share/example.yaml"
  install -m 0644 "$here/COMMISSIONING.md" "$root/usr/local/share/doc/femtoclaw/COMMISSIONING.md"

  # The config and the journal are never replaced.
  install -d -m 0750 -o 0 -g "$gid" "$etc"
  if [ ! -e "$etc/config.yaml" ]; then
    install -m 0640 -o 0 -g "$gid" "$here/config.yaml" "$etc/config.yaml"
  fi
  install -d -m 0755 "$root/var/lib"
  install -d -m 0750 -o "$uid" -g "$gid" "$state"

  if [ -n "$root" ]; then
    install -d -m 0755 "$units/multi-user.target.wants"
    for u in femtoclaw.service femtoclaw-commission.service; do
      ln -sfn "/etc/systemd/system/$u" "$units/multi-user.target.wants/$u"
    done
  elif live; then
    systemctl daemon-reload
    systemctl enable femtoclaw.service femtoclaw-commission.service
  fi
  if [ "$upgraded" = 1 ]; then
    log "upgraded to $new_version (previous $(version_of "$share/VERSION.prev") kept for rollback)"
  else
    log "installed $new_version${root:+ under $root}"
  fi

  if live && [ "$start" = 1 ]; then
    # Type=notify: restart returns once the gateway is ready, or fails.
    if ! systemctl restart femtoclaw.service; then
      if [ "$upgraded" = 1 ]; then
        log "the upgraded gateway did not start; rolling back"
        do_rollback
        exit 1
      fi
      die "femtoclaw.service did not start: journalctl -u femtoclaw"
    fi
  fi
}

case $action in
  install|upgrade) do_install ;;
  rollback) do_rollback ;;
  status) do_status ;;
esac
