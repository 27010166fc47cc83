#!/bin/sh
# Installs the Debian packages the simulator and the tests need on the controller host,
# only when one is missing (a fresh Debian 12 machine, root, package registry reachable).
# chromium: the fleet report test renders the HTML report in a real headless browser.
set -eu
PKGS="lxc debootstrap iproute2 bridge-utils openssh-client rsync xz-utils python3-venv git make busybox-static uidmap chromium"
missing=""
for p in $PKGS; do
	dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing host packages:$missing"
	if [ "$(id -u)" != 0 ]; then
		echo "error: not root; run as root or install:$missing" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
# The simulator's feed is built from Debian packages fetched with apt-get download: it needs the
# package lists even where every host package is already installed.
if ! apt-cache show liblxc1 >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update -q >/dev/null
	else
		echo "warning: no Debian package lists (run apt-get update as root): the simulator's feed cannot be built" >&2
	fi
fi
