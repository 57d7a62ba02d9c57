#!/bin/sh
# Customise the official Raspberry Pi OS (Lite) image with a femtoclaw
# release bundle: the bundle is installed into the image's root file system
# with install.sh --root, so nothing of it runs on the build machine, and the
# units are enabled. Optionally a config is placed on the boot partition for
# the first boot to commission.
#
# Usage (as root): customize.sh OFFICIAL.img[.xz] BUNDLE.tar.gz OUT.img [CONFIG.yaml]
#   e.g. customize.sh 2024-11-19-raspios-bookworm-arm64-lite.img.xz \
#          femtoclaw-v1.0.0-linux-arm64.tar.gz femtoclaw-rpi.img
# Pick the bundle for the image: arm64 for the 64-bit image, armv6 for the
# 32-bit one (it runs on every Pi), armv7 for a 32-bit image on Pi 2 and later.
# Needs: losetup, mount, xz (for .xz images), tar.
set -eu
[ $# -ge 3 ] && [ $# -le 4 ] || { sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "customize.sh: run me as root (loop devices)" >&2; exit 2; }
in=$1 bundle=$2 out=$3 config=${4:-}

work=$(mktemp -d)
loop=""
cleanup() {
  umount "$work/root/boot/firmware" 2>/dev/null || true
  umount "$work/root" 2>/dev/null || true
  [ -z "$loop" ] || losetup -d "$loop" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

case $in in
  *.xz) xz -dc "$in" > "$out" ;;
  *) cp "$in" "$out" ;;
esac
loop=$(losetup --find --show --partscan "$out")
mkdir -p "$work/root"
mount "${loop}p2" "$work/root"
mkdir -p "$work/root/boot/firmware"
mount "${loop}p1" "$work/root/boot/firmware"

mkdir -p "$work/bundle"
tar -xzf "$bundle" -C "$work/bundle"
set -- "$work"/bundle/femtoclaw-*/install.sh
[ -x "$1" ] || { echo "customize.sh: $bundle holds no install.sh" >&2; exit 1; }
"$1" --root "$work/root" install
if [ -n "$config" ]; then
  cp "$config" "$work/root/boot/firmware/femtoclaw.yaml"
fi
sync
echo "customize.sh: $out holds $(cat "$work/root/usr/local/share/femtoclaw/VERSION"); write it with Raspberry Pi Imager"
