#!/bin/bash -e
# pi-gen substage: bake the edgeproof package and first-boot provisioning into the image.
# Runs on the build host with ROOTFS_DIR set by pi-gen; on_chroot (exported by pi-gen) runs
# its standard input inside the image's root. The .deb comes from `make deb` on an arm64
# machine (or EDGEPROOF_DEB=path), copied into files/ beside this script.
ARCH="${ARCH:-arm64}"
DEB="${EDGEPROOF_DEB:-}"
if [ -z "${DEB}" ]; then
	for candidate in files/edgeproof_*_"${ARCH}".deb; do
		[ -f "${candidate}" ] && DEB="${candidate}"
	done
fi
if [ -z "${DEB}" ] || [ ! -f "${DEB}" ]; then
	echo "stage-edgeproof: no files/edgeproof_*_${ARCH}.deb: build it with \`make deb\` on an ${ARCH} machine" >&2
	exit 1
fi
deb_arch="$(dpkg-deb --field "${DEB}" Architecture)"
if [ "${deb_arch}" != "${ARCH}" ] && [ "${deb_arch}" != all ]; then
	echo "stage-edgeproof: ${DEB} is for ${deb_arch}, the image is ${ARCH}" >&2
	exit 1
fi

install -m 644 "${DEB}" "${ROOTFS_DIR}/tmp/edgeproof.deb"
# An example provisioning file on the boot partition (FAT: editable from any laptop after
# flashing); the installer fills it in and renames it to edgeproof-provision.toml.
install -d "${ROOTFS_DIR}/boot/firmware"
install -m 644 files/edgeproof-provision.toml.example "${ROOTFS_DIR}/boot/firmware/edgeproof-provision.toml.example"

on_chroot <<'CHROOT'
set -e
apt-get install -y --no-install-recommends /tmp/edgeproof.deb
rm -f /tmp/edgeproof.deb
# the package enabled both units (deb-systemd-helper); said again so a reader of the image sees it
systemctl enable edgeproof-provision.service edgeproof.service
CHROOT
