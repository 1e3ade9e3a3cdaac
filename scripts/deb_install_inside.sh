#!/bin/bash
# Runs inside the clean root made by scripts/deb_install_test.sh (chroot; no systemd running).
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
fail() { echo "inside the root: FAILED: $*" >&2; exit 1; }
phase() { echo "== $(date -u +%H:%M:%S) $*"; }

phase "dpkg -i (no network needed: the wheels are in the package)"
dpkg -i /tmp/edgeproof.deb
getent passwd edgeproof | grep -q ':/var/lib/edgeproof:/usr/sbin/nologin$' || fail "service user edgeproof"
[ "$(stat -c '%a %U' /var/lib/edgeproof)" = "700 edgeproof" ] || fail "/var/lib/edgeproof not 0700 edgeproof"
[ "$(stat -c '%a %U %G' /etc/edgeproof)" = "750 root edgeproof" ] || fail "/etc/edgeproof not 0750 root:edgeproof"
[ -L /etc/systemd/system/multi-user.target.wants/edgeproof.service ] || fail "edgeproof.service not enabled"
[ -L /etc/systemd/system/multi-user.target.wants/edgeproof-provision.service ] || fail "provisioning not enabled"
systemd-analyze verify /lib/systemd/system/edgeproof.service /lib/systemd/system/edgeproof-provision.service \
  || fail "systemd-analyze verify of the units"
edgeproof --help >/dev/null || fail "edgeproof does not run"

phase "a receiver (from the package) and first-boot provisioning from /boot/firmware"
mkdir -p /root/rx /boot/firmware
edgeproof cloud serve --db /root/rx/receiver.db --host 127.0.0.1 --port 0 --ready-file /root/rx/ready \
  >/root/rx/log 2>&1 &
rx_pid=$!
for _ in $(seq 1 300); do [ -s /root/rx/ready ] && break; sleep 0.2; done
[ -s /root/rx/ready ] || { cat /root/rx/log >&2; fail "receiver did not start"; }
url=$(python3 -c 'import json; print(json.load(open("/root/rx/ready"))["url"])')
token=$(edgeproof cloud token --db /root/rx/receiver.db --enterprise ent-debtest)
cat >/boot/firmware/edgeproof-provision.toml <<EOF
profile = "sim-factory"
receiver = "$url"
token = "$token"
site_id = "debtest"
EOF
edgeproof provision --boot-dir /boot/firmware --max-attempts 3 --backoff 2 || fail "edgeproof provision"
if grep -q "$token" /boot/firmware/edgeproof-provision.toml; then fail "token not wiped"; fi
if grep -rq "$token" /var/lib/edgeproof /etc/edgeproof; then fail "token stored"; fi
for f in gateway.key identity.json enrollment.json provision.json; do
  [ "$(stat -c %U "/var/lib/edgeproof/$f")" = edgeproof ] || fail "$f not handed to the service user"
done

phase "edgeproof selftest"
edgeproof selftest --state /var/lib/edgeproof --profile /etc/edgeproof/profile.toml || fail "selftest"
edgeproof status --state /var/lib/edgeproof || true   # not running (no systemd here): shows provisioning

phase "edgeproof demo --seconds 10"
(cd /tmp && edgeproof demo --seconds 10) || fail "demo"
kill "$rx_pid" 2>/dev/null || true

phase "dpkg --remove keeps the key, the configuration and the user"
dpkg --remove edgeproof
if [ ! -f /var/lib/edgeproof/gateway.key ] || [ ! -f /etc/edgeproof/profile.toml ]; then
  fail "remove deleted state or config"
fi
getent passwd edgeproof >/dev/null || fail "remove deleted the user"
if [ -e /opt/edgeproof ] || [ -e /usr/bin/edgeproof ]; then fail "remove left the program"; fi

phase "dpkg --purge removes them"
dpkg --purge edgeproof
if getent passwd edgeproof >/dev/null || getent group edgeproof >/dev/null; then fail "purge left the user"; fi
for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow; do
  if grep -q '^edgeproof:' "$f"; then fail "purge left edgeproof in $f"; fi
done
rm -rf /boot/firmware/edgeproof-provision.toml   # the installer's file, not the package's
