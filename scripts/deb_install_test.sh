#!/usr/bin/env bash
# Installs the edgeproof .deb into a clean Debian root and proves it works and goes away cleanly:
#   1. mmdebstrap a minimal root (minbase + the package's Depends + systemd: systemd is installed but,
#      as in an image build, not running, so the maintainer scripts must cope),
#   2. dpkg -i the package (offline: every wheel is inside it),
#   3. inside the root (chroot, private mount and PID namespaces, so nothing outlives the test):
#      a receiver from the package, first-boot provisioning from a boot folder with a one-time
#      token (init, enroll, probe, selftest; the token wiped), `edgeproof selftest`,
#      `edgeproof demo --seconds 10`, systemd-analyze verify of the units,
#   4. dpkg --remove keeps the key, the configuration and the user; dpkg --purge removes them,
#      and the root's file list afterwards equals the one before the install.
# Usage: scripts/deb_install_test.sh [path/to/edgeproof_*.deb]   (root; amd64 or the host's arch)
# Bounded: every phase runs under `timeout`; a failure says which phase and keeps the log.
set -euo pipefail
cd "$(dirname "$0")/.."

ARCH=$(dpkg --print-architecture)
DEB=${1:-$(find dist -maxdepth 1 -name "edgeproof_*_${ARCH}.deb" 2>/dev/null | sort | tail -n 1)}
SUITE=${EDGEPROOF_DEB_SUITE:-bookworm}
T_ROOT=${EDGEPROOF_DEB_T_ROOT:-900}     # seconds for mmdebstrap
T_INSIDE=${EDGEPROOF_DEB_T_INSIDE:-900} # seconds for everything inside the root

fail() { echo "deb_install_test: FAILED: $*" >&2; exit 1; }
phase() { echo "== $(date -u +%H:%M:%S) $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (mmdebstrap, chroot, dpkg in the root)"
if [ -z "$DEB" ] || [ ! -f "$DEB" ]; then fail "no package: run \`make deb\` first (looked for dist/edgeproof_*_${ARCH}.deb)"; fi
command -v mmdebstrap >/dev/null || fail "mmdebstrap not installed (apt-get install -y mmdebstrap)"

# The same package sources this machine uses (no mirror is named here).
SOURCES=()
if [ -s /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list; then SOURCES+=(/etc/apt/sources.list); fi
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && SOURCES+=("$f")
done
[ ${#SOURCES[@]} -gt 0 ] || fail "no apt sources on this machine to build the root from"

WORK=$(mktemp -d /tmp/edgeproof-debtest.XXXXXX)
ROOT=$WORK/root
# Every mount below lives in a private mount namespace and ends with it; the clean-up still
# unmounts anything found under WORK and never crosses into another filesystem.
cleanup() {
  local status=$?
  { grep -o " $WORK/[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf --one-file-system "$WORK" || true
  exit "$status"
}
trap cleanup EXIT
start=$(date +%s)

# The package's own dependencies go into the root first, so that `dpkg -i` below proves the
# package installs without any network (the root has none: see the namespaces below).
DEPENDS=$(dpkg-deb --field "$DEB" Depends | tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/[[:space:]]//g' \
  | grep -v '^$' | sort -u | paste -sd, -)
phase "clean $SUITE root in $ROOT with $DEPENDS,systemd (mmdebstrap, ${T_ROOT} s at most)"
timeout "$T_ROOT" unshare --mount --propagation private mmdebstrap --quiet --variant=minbase --include="$DEPENDS,systemd" \
  --aptopt='Acquire::Retries "3"' "$SUITE" "$ROOT" "${SOURCES[@]}" >"$WORK/mmdebstrap.log" 2>&1 \
  || { tail -n 30 "$WORK/mmdebstrap.log" >&2; fail "mmdebstrap (exit $?; log above)"; }

# What a purge must return the root to. Volatile places the test itself writes are left out.
listing() {
  (cd "$ROOT" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./tmp -o -path ./root -o -path ./run \
     -o -path ./var/log -o -path ./var/cache -o -path ./var/lib/dpkg -o -path ./var/lib/apt -o -path ./boot \
     -o -path ./etc/ld.so.cache -o -name 'passwd-' -o -name 'group-' -o -name 'shadow-' -o -name 'gshadow-' \) \
     -prune -o -print | sort)
}
listing >"$WORK/before.txt"
cp "$DEB" "$ROOT/tmp/edgeproof.deb"

install -m 755 scripts/deb_install_inside.sh "$ROOT/tmp/inside.sh"

phase "install, provision, selftest, demo, remove, purge inside the root (${T_INSIDE} s at most)"
# Private mount, PID and network namespaces: /proc and /dev are mounted for the root only, every
# process started inside (the receiver, the demo's) ends with it, and it has its own loopback
# and nothing else (no port clashes with this machine, nothing reaches out).
# shellcheck disable=SC2016  # $1 expands in the inner shell
if ! timeout "$T_INSIDE" unshare --mount --pid --net --fork --mount-proc="$ROOT/proc" \
    sh -c 'PATH="$PATH:/usr/sbin:/sbin" ip link set lo up && mount --rbind /dev "$1/dev" && exec chroot "$1" /tmp/inside.sh' sh "$ROOT" 2>&1 \
    | tee "$WORK/inside.log"; then
  fail "inside the root (see the lines above)"
fi
grep -q "FAILED" "$WORK/inside.log" && fail "inside the root (see the lines above)"

phase "the root after purge equals the root before the install"
listing >"$WORK/after.txt"
if ! diff -u "$WORK/before.txt" "$WORK/after.txt" >"$WORK/diff.txt"; then
  cat "$WORK/diff.txt" >&2
  fail "files left behind after purge (diff above)"
fi
echo "deb_install_test: passed ($(basename "$DEB") on $SUITE/$ARCH, $(( $(date +%s) - start )) s)"
