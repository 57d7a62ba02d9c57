#!/bin/bash -e
# pi-gen sub-stage: install the femtoclaw bundle from files/ into the image.
# Put the release bundle matching the image in files/ before building:
# femtoclaw-VERSION-linux-arm64.tar.gz for ARCH=arm64, the armv6 one for
# armhf (Raspberry Pi OS's armhf runs on every Pi, down to ARMv6).
case "${ARCH:-arm64}" in
	arm64) target=arm64 ;;
	armhf) target=armv6 ;;
	*) echo "femtoclaw stage: unsupported ARCH ${ARCH}" >&2; exit 1 ;;
esac
shopt -s nullglob
bundles=(files/femtoclaw-*-linux-"${target}".tar.gz)
if [ ${#bundles[@]} -ne 1 ]; then
	echo "femtoclaw stage: want exactly one files/femtoclaw-*-linux-${target}.tar.gz, found ${#bundles[@]}" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "${tmp}"' EXIT
tar -xzf "${bundles[0]}" -C "${tmp}"
"${tmp}"/femtoclaw-*/install.sh --root "${ROOTFS_DIR}" install
