#!/usr/bin/env bash
# Release bundles in dist/: for each target a tarball holding the static
# binary, the systemd units, the default and example configs, the
# commissioning and install scripts, COMMISSIONING.md, VERSION and SHA256SUMS;
# dist/SHA256SUMS covers the tarballs.
#
# Reproducible: the same commit gives the same bytes. The build is -trimpath
# with an empty build id; the version is stamped from git; the tarballs are
# sorted, owned by 0:0, dated at the commit time and gzipped without a name
# or a time stamp.
#
# Usage: scripts/firmware.sh [TARGET...]   (default: amd64 arm64 armv7 armv6)
# Environment: VERSION, COMMIT override the stamped version and commit;
# FIRMWARE_TAGS the build tags (default nosimopcua: the simulator serves
# Modbus only, which leaves the OPC UA server library, about 4 MB, out).
set -euo pipefail
cd "$(dirname "$0")/.."

module=github.com/femtoclaw/femtoclaw
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=${COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(amd64 arm64 armv7 armv6)

ldflags="-s -w -buildid= -X $module/cmd/femtoclaw/cli.version=$version -X $module/cmd/femtoclaw/cli.commit=$commit"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p dist

for t in "${targets[@]}"; do
  case $t in
    amd64) goarch=amd64 goarm= ;;
    arm64) goarch=arm64 goarm= ;;
    armv7) goarch=arm goarm=7 ;;
    armv6) goarch=arm goarm=6 ;;
    *) echo "firmware: unknown target $t (amd64, arm64, armv7, armv6)" >&2; exit 2 ;;
  esac
  name=femtoclaw-$version-linux-$t
  dir=$work/$name
  mkdir -p "$dir"
  CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm \
    go build -trimpath -tags "${FIRMWARE_TAGS-nosimopcua}" -ldflags "$ldflags" -o "$dir/femtoclaw" ./cmd/femtoclaw
  install -m 0644 firmware/femtoclaw.service firmware/femtoclaw-commission.service \
    firmware/femtoclaw.sysusers firmware/config.yaml configs/example.yaml docs/COMMISSIONING.md "$dir/"
  install -m 0755 firmware/install.sh firmware/commission.sh "$dir/"
  echo "$version" > "$dir/VERSION"
  chmod 0644 "$dir/VERSION"
  chmod 0755 "$dir" "$dir/femtoclaw"
  (cd "$dir" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
  chmod 0644 "$dir/SHA256SUMS"
  touch -h -d "@$epoch" "$dir" "$dir"/*
  tar -C "$work" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    --format=gnu -cf - "$name" | gzip -n -9 > "dist/$name.tar.gz"
  size=$(stat -c %s "$dir/femtoclaw")
  echo "dist/$name.tar.gz  (binary $((size / 1024)) KiB)"
done
(cd dist && ls femtoclaw-"$version"-linux-*.tar.gz | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
