#!/usr/bin/env bash
# Firmware checks: the release bundles build reproducibly for every target,
# the ARM binaries run under qemu-user-static (version, check on every
# example config, a short demo), the systemd units verify and stay hardened,
# and the install script, tested into a temporary root, installs, commissions,
# upgrades (keeping the config and the journal) and rolls back.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

need() { command -v "$1" >/dev/null 2>&1; }
if ! need qemu-aarch64-static || ! need qemu-arm-static || ! need systemd-analyze; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static systemd >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "firmware: FAIL: $*" >&2; exit 1; }
freeport() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- bundles, twice: the same bytes -----------------------------------------
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
start=$(date +%s)
make -s firmware >/dev/null
echo "firmware: first build $(( $(date +%s) - start ))s"
cp dist/SHA256SUMS "$tmp/sums1"
make -s firmware >/dev/null
cmp -s dist/SHA256SUMS "$tmp/sums1" || { diff "$tmp/sums1" dist/SHA256SUMS; fail "make firmware twice gave different tarballs"; }
(cd dist && sha256sum --check --quiet SHA256SUMS) || fail "dist/SHA256SUMS does not match"
for t in amd64 arm64 armv7 armv6; do
  tb=dist/femtoclaw-$version-linux-$t.tar.gz
  [ -f "$tb" ] || fail "$tb missing"
  tar -tzvf "$tb" | awk '$2 != "0/0" { bad = 1 } END { exit bad }' || fail "$tb has entries not owned by 0/0"
  tar -xzf "$tb" -C "$tmp"
  (cd "$tmp/femtoclaw-$version-linux-$t" && sha256sum --check --quiet SHA256SUMS) || fail "$t: bundle SHA256SUMS"
  for f in femtoclaw femtoclaw.service femtoclaw-commission.service config.yaml install.sh commission.sh VERSION; do
    [ -f "$tmp/femtoclaw-$version-linux-$t/$f" ] || fail "$t: bundle lacks $f"
  done
done
echo "firmware: 4 bundles reproducible: $(cut -c1-12 dist/SHA256SUMS | tr '\n' ' ')"

# --- the ARM binaries under qemu-user-static ---------------------------------
run_arm() { # TARGET ARGS...
  local t=$1; shift
  local b=$tmp/femtoclaw-$version-linux-$t/femtoclaw
  case $t in
    arm64) qemu-aarch64-static "$b" "$@" ;;
    armv7) qemu-arm-static -cpu cortex-a7 "$b" "$@" ;;
    armv6) qemu-arm-static -cpu arm1176 "$b" "$@" ;;
  esac
}
for t in arm64 armv7 armv6; do
  out=$(run_arm "$t" version)
  case $t in arm64) want=linux/arm64 ;; *) want=linux/arm ;; esac
  [[ $out == *"$version"*"$want"* ]] || fail "$t: version printed '$out', want $version and $want"
  for f in configs/*.yaml; do run_arm "$t" check -c "$f" >/dev/null || fail "$t: check $f"; done
  set +e; run_arm "$t" check -c gateway/config/testdata/bad/many.yaml >/dev/null 2>&1; code=$?; set -e
  [ "$code" -eq 2 ] || fail "$t: check on a bad config exited $code, want 2"
  out=$(run_arm "$t" demo --for 6s --mqtt "127.0.0.1:$(freeport)") || fail "$t: demo exited non-zero"
  grep -q decision <<<"$out" || fail "$t: demo printed no decision: $out"
  grep -q actuation <<<"$out" || fail "$t: demo printed no actuation: $out"
  echo "firmware: $t under qemu: version, check, demo ok"
done

# --- install into a temporary root -----------------------------------------
b1=$tmp/femtoclaw-$version-linux-amd64
root=$tmp/root
mkdir -p "$root/etc" "$root/boot/firmware"
# A few groups of the target system: dialout exists on Raspberry Pi OS.
printf 'root:x:0:\ndialout:x:20:\n' > "$root/etc/group"
printf 'root:x:0:0:root:/root:/bin/bash\n' > "$root/etc/passwd"
"$b1/install.sh" --root "$root" install

mode() { stat -c '%a %U:%G' "$1" 2>/dev/null | sed "s/UNKNOWN/?/g"; }
owner() { stat -c '%a %u:%g' "$1"; }
uid=$(awk -F: '$1=="femtoclaw"{print $3}' "$root/etc/passwd")
gid=$(awk -F: '$1=="femtoclaw"{print $3}' "$root/etc/group")
[ -n "$uid" ] && [ -n "$gid" ] || fail "no femtoclaw user in $root/etc/passwd"
grep -q '^femtoclaw:.*:/usr/sbin/nologin$' "$root/etc/passwd" || fail "femtoclaw user can log in: $(grep femtoclaw "$root/etc/passwd")"
check_owner() { # PATH WANT
  local got; got=$(owner "$root$1")
  [ "$got" = "$2" ] || fail "$1: got mode and owner '$got', want '$2'"
}
check_owner /usr/local/bin/femtoclaw "755 0:0"
check_owner /usr/local/lib/femtoclaw/commission "755 0:0"
check_owner /etc/systemd/system/femtoclaw.service "644 0:0"
check_owner /etc/systemd/system/femtoclaw-commission.service "644 0:0"
check_owner /etc/femtoclaw "750 0:$gid"
check_owner /etc/femtoclaw/config.yaml "640 0:$gid"
check_owner /var/lib/femtoclaw "750 $uid:$gid"
for u in femtoclaw.service femtoclaw-commission.service; do
  [ "$(readlink "$root/etc/systemd/system/multi-user.target.wants/$u")" = "/etc/systemd/system/$u" ] || fail "$u not enabled"
done
cmp -s "$b1/config.yaml" "$root/etc/femtoclaw/config.yaml" || fail "default config not installed"
"$root/usr/local/bin/femtoclaw" check -c "$root/etc/femtoclaw/config.yaml" >/dev/null || fail "the default config does not pass check"
echo "firmware: install into a temporary root: files, modes, user, units ok"

# The units verify against the installed root (given the host's system units
# to depend on), with no warning at all, and stay hardened.
verify() {
  local out
  out=$(cd "$root" && systemd-analyze verify --root="$root" femtoclaw.service femtoclaw-commission.service 2>&1) \
    || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify warns: $out"
}
mkdir -p "$root/usr/lib/systemd"
cp -a /lib/systemd/system "$root/usr/lib/systemd/"
verify
exposure=$(systemd-analyze security --offline=yes --root="$root" femtoclaw.service 2>/dev/null | awk '/Overall exposure level/ { print $(NF-2) }')
systemd-analyze security --offline=yes --root="$root" --threshold=19 femtoclaw.service >/dev/null 2>&1 \
  || fail "femtoclaw.service exposure $exposure, want below 2.0"
echo "firmware: systemd-analyze verify ok; femtoclaw.service exposure $exposure"

# --- commissioning ----------------------------------------------------------
commission() { "$root/usr/local/lib/femtoclaw/commission" --root "$root" --no-systemctl "$@"; }
etc_sum() { (cd "$root/etc/femtoclaw" && find . -type f | LC_ALL=C sort | xargs sha256sum); }
before=$(etc_sum)
cp gateway/config/testdata/bad/many.yaml "$root/boot/firmware/femtoclaw.yaml"
set +e; commission 2>"$tmp/commission.log"; code=$?; set -e
[ "$code" -eq 1 ] || fail "commission of a bad config exited $code, want 1"
[ "$(etc_sum)" = "$before" ] || fail "a refused config changed /etc/femtoclaw"
[ ! -e "$root/etc/femtoclaw.new" ] || fail "a refused config left /etc/femtoclaw.new"
grep -Eq '^/boot/firmware/femtoclaw.yaml:[0-9]+:[0-9]+: ' "$root/boot/firmware/femtoclaw.errors.txt" \
  || fail "no FILE:LINE:COL problem in femtoclaw.errors.txt: $(cat "$root/boot/firmware/femtoclaw.errors.txt")"
grep -q '^result: refused$' "$root/var/lib/femtoclaw/commissioning.status" || fail "status file does not say refused"
grep -q 'refused: /boot/firmware/femtoclaw.yaml:' "$tmp/commission.log" || fail "refusal not logged"
[ -f "$root/boot/firmware/femtoclaw.yaml" ] || fail "a refused config was removed from the boot partition"

# A config outside the writable data dir is refused too.
sed 's|data_dir: /var/lib/femtoclaw|data_dir: /srv/femtoclaw|' firmware/config.yaml > "$root/boot/firmware/femtoclaw.yaml"
set +e; commission 2>/dev/null; code=$?; set -e
[ "$code" -eq 1 ] || fail "commission of a config with another data_dir exited $code, want 1"
grep -q 'gateway.data_dir' "$root/boot/firmware/femtoclaw.errors.txt" || fail "data_dir refusal not explained"

# A good config with a serial device and a companion file is applied.
cp configs/example.yaml "$root/boot/firmware/femtoclaw.yaml"
mkdir -p "$root/boot/firmware/femtoclaw"
cp configs/demo-script.json "$root/boot/firmware/femtoclaw/"
commission 2>"$tmp/commission.log" || fail "commission of a good config: $(cat "$tmp/commission.log")"
cmp -s configs/example.yaml "$root/etc/femtoclaw/config.yaml" || fail "the good config is not in place"
cmp -s firmware/config.yaml "$root/etc/femtoclaw.prev/config.yaml" || fail "the previous config was not kept"
check_owner /etc/femtoclaw/config.yaml "640 0:$gid"
check_owner /etc/femtoclaw/demo-script.json "640 0:$gid"
[ ! -e "$root/boot/firmware/femtoclaw.yaml" ] && [ ! -e "$root/boot/firmware/femtoclaw" ] || fail "applied files left on the boot partition"
[ ! -e "$root/boot/firmware/femtoclaw.errors.txt" ] || fail "stale femtoclaw.errors.txt left"
[ -f "$root/boot/firmware/femtoclaw.applied.txt" ] || fail "no femtoclaw.applied.txt"
grep -q '^result: applied$' "$root/var/lib/femtoclaw/commissioning.status" || fail "status file does not say applied"
grep -qx 'SupplementaryGroups=dialout' "$root/etc/systemd/system/femtoclaw.service.d/50-commissioned.conf" \
  || fail "no dialout group for the RTU device"
"$root/usr/local/bin/femtoclaw" check -c "$root/etc/femtoclaw/config.yaml" >/dev/null || fail "the applied config does not pass check in place"
verify
echo "firmware: commissioning refuses bad configs without touching /etc, applies a good one with its groups"

# --- upgrade keeps config and journal; rollback ----------------------------
"$root/usr/local/bin/femtoclaw" demo --for 3s --mqtt "127.0.0.1:$(freeport)" --data "$root/var/lib/femtoclaw" >/dev/null
"$root/usr/local/bin/femtoclaw" journal verify --data "$root/var/lib/femtoclaw" >/dev/null || fail "journal before upgrade"
journal_sum() { (cd "$root/var/lib/femtoclaw/journal" && find . -type f | LC_ALL=C sort | xargs sha256sum); }
jbefore=$(journal_sum)
cbefore=$(etc_sum)
# The next release: the same binary with one byte more, another version.
b2=$tmp/next
cp -a "$b1" "$b2"
printf '\0' >> "$b2/femtoclaw"
echo "$version-next" > "$b2/VERSION"
(cd "$b2" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
"$b2/install.sh" --root "$root" upgrade
cmp -s "$b2/femtoclaw" "$root/usr/local/bin/femtoclaw" || fail "upgrade did not install the new binary"
cmp -s "$b1/femtoclaw" "$root/usr/local/bin/femtoclaw.prev" || fail "upgrade did not keep the previous binary"
[ "$(etc_sum)" = "$cbefore" ] || fail "upgrade changed the config"
[ "$(journal_sum)" = "$jbefore" ] || fail "upgrade changed the journal"
"$root/usr/local/bin/femtoclaw" journal verify --data "$root/var/lib/femtoclaw" >/dev/null || fail "journal after upgrade"
st=$("$b2/install.sh" --root "$root" status)
grep -qx "installed: $version-next" <<<"$st" && grep -qx "previous:  $version" <<<"$st" || fail "status after upgrade: $st"
"$b2/install.sh" --root "$root" rollback
cmp -s "$b1/femtoclaw" "$root/usr/local/bin/femtoclaw" || fail "rollback did not restore the previous binary"
cmp -s "$b2/femtoclaw" "$root/usr/local/bin/femtoclaw.prev" || fail "rollback did not keep the rolled-back binary"
st=$("$b2/install.sh" --root "$root" status)
grep -qx "installed: $version" <<<"$st" && grep -qx "previous:  $version-next" <<<"$st" || fail "status after rollback: $st"
[ "$(etc_sum)" = "$cbefore" ] && [ "$(journal_sum)" = "$jbefore" ] || fail "rollback changed the config or the journal"
# A bundle that does not match its sums installs nothing.
printf '\0' >> "$b2/femtoclaw"
if "$b2/install.sh" --root "$root" upgrade >/dev/null 2>&1; then fail "a tampered bundle was installed"; fi
cmp -s "$b1/femtoclaw" "$root/usr/local/bin/femtoclaw" || fail "a tampered bundle changed the binary"
echo "firmware: upgrade keeps config and journal; rollback; tampered bundle refused"
echo "firmware: ok"
