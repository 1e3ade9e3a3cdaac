#!/usr/bin/env bash
# Installs the system programs the test suite drives for real (Mosquitto, socat,
# Chromium, PostgreSQL, MariaDB) when they are missing. Needs root and apt; otherwise says what to do.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# A CJK font: the status page is tested in Chinese in headless Chromium (without it the glyphs are boxes).
{ fc-list 2>/dev/null | grep -q "Noto Sans CJK" || ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc >/dev/null 2>&1; } || need+=(fonts-noto-cjk)
# PostgreSQL server binaries: the SQL connector and the receiver's PostgreSQL store are tested against a real server.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# MariaDB's server: the SQL connector's mysql+pymysql:// path is tested against a real one (tests/support/mariadb.py).
# Its own names only: a mysqld may be Oracle MySQL, which the test helper cannot initialise.
{ command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; } && command -v mariadb-install-db >/dev/null 2>&1 \
  || need+=(mariadb-server)
# openssl: the receiver's TLS test makes a self-signed certificate, and the tests' RFC 3161 Time-Stamping
# Authority is `openssl ts -reply` (tests/support/tsa.py); systemd-analyze verifies the receiver's unit.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# TPM 2.0 keys (edgeproof init --key-store tpm): the software TPM the tests run on loopback (swtpm), the
# tpm2-tools for installers, and libtss2's headers that tpm2-pytss (the [tpm] extra) builds against.
command -v swtpm >/dev/null 2>&1 || need+=(swtpm swtpm-tools)
command -v tpm2_getrandom >/dev/null 2>&1 || need+=(tpm2-tools)
[ -e /usr/include/tss2/tss2_esys.h ] || need+=(libtss2-dev)
# The Debian package (make deb-test): a clean root to install it into, the target's venv module,
# and shellcheck for the package's and the image stage's shell scripts.
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg-dev)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "missing system packages: ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
