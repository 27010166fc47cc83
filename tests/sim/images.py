#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""LXC image server for the router simulator, in the layout of the ``download`` template.

Layout (what ``lxc-download``, repo.turris.cz/lxc and images.linuxcontainers.org use)::

    meta/1.0/index-system          dist;release;arch;variant;build;path  (one line per image)
    images/<dist>/<release>/<arch>/<variant>/<build>/rootfs.tar.xz
    images/<dist>/<release>/<arch>/<variant>/<build>/meta.tar.xz   (config, templates, ...)

One server serves that layout twice, under ``/lxc`` as repo.turris.cz/lxc names its images
(``Debian;Bookworm;armv7l``, ``Turris_OS;stable;ppc``) and under ``/linuxcontainers`` as
images.linuxcontainers.org does (``debian;bookworm;armhf``): see ``SERVERS``.

An image is one *recipe*: a function that fills a root filesystem directory and returns the
metadata (LXC config lines, files to template).  Adding Debian, TurrisOS or Asterisk images
means adding one recipe to ``RECIPES``; building, caching, indexing and serving are shared.
Built images are cached outside the work tree (``/var/cache/turris-sim/images``, or
``$TURRIS_SIM_IMAGE_CACHE``), keyed by the recipe's inputs.

Why TLS: the stock ``lxc-download`` template of LXC 4/5 always fetches
``https://<server>/...`` (``--server`` takes a host name and optional path, not a URL, and
there is no ``--no-validate``/GPG any more), so a plain-HTTP server cannot be used by it.
The server therefore speaks HTTPS with a certificate from a private CA generated here;
``wget`` (which the template uses) trusts it when the environment names a wgetrc file with
``ca_certificate = <ca.pem>`` (``WGETRC=<cache>/tls/wgetrc``).  ``lxc-create`` passes its
environment to the template, so setting ``WGETRC`` for ``lxc-create`` is enough; nothing is
installed in any system trust store.  ``--plain`` serves HTTP for templates patched to take
a URL (Turris OS's older template) or for other clients.

Command line::

    images.py build [RECIPE...]                 build (or reuse) images, print their paths
    images.py prune                             remove cached images of older recipes
    images.py serve --bind ADDR --port N [--plain]   build, index and serve (/lxc, /linuxcontainers) until killed
"""
import argparse
import datetime
import fcntl
import functools
import hashlib
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

CACHE = os.environ.get("TURRIS_SIM_IMAGE_CACHE", "/var/cache/turris-sim/images")
RECIPE_VERSION = "2"


def host_image_arch():
    """The host's architecture in image-server naming (Debian's, as images.linuxcontainers.org)."""
    out = subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


# --------------------------------------------------------------------------- recipes
#
# A recipe is a function that *declares* an image without building anything: it returns a
# plain-data description (a "spec") from which the cache key is computed, and which
# :func:`_fill` then executes on a cache miss only.  Everything that shapes the image is in
# the spec: the names it is listed under, its LXC config, the base (a debootstrap suite,
# variant, mirror and package list, or the host's static busybox by its checksum), the full
# content of every file it writes, the commands it runs in the chroot, what it removes.  Code
# in this module that the spec cannot describe (``_fill`` and its helpers) is covered by
# ``RECIPE_VERSION``: bump it when that code changes the images it makes.
#
# Spec keys: dist, release, variant (the download template's -d/-r/--variant); config (LXC
# config lines of the image); templates (files in which LXC_NAME etc. are replaced);
# base = {"busybox": {...}} | {"debootstrap": {suite, variant, mirror, include}};
# files = {relpath: [content, mode]}; symlinks = {relpath: target}; chroot = [argv, ...]
# (run after the files are written); dirs = [relpath, ...]; remove = [relpath, ...]; slim (drop docs, man pages
# and translations, and keep dpkg from installing them later).
#
# Debootstrapped images are taken from the mirror at their first build and then cached by
# their spec: an unstable (sid) image does not follow sid until the spec or RECIPE_VERSION
# changes or the cache directory is removed.  ``build`` in image.json tells when it was made.

DEBIAN_MIRROR = os.environ.get("TURRIS_SIM_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBOOTSTRAP_CACHE = os.environ.get("TURRIS_SIM_DEBOOTSTRAP_CACHE", "/var/cache/turris-sim/debootstrap")
TURRIS_OS_VERSION = "7.2.3"  # as tests/sim/turris_sim.py's (tests/unit/sim/test_images.py checks)
HERE = os.path.dirname(os.path.abspath(__file__))


def _busybox_binary():
    """Debian's busybox-static binary (the package must be installed: apt-get install busybox-static)."""
    out = subprocess.run(["dpkg", "-L", "busybox-static"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("busybox-static is not installed: apt-get install busybox-static")
    path = "/bin/busybox"
    if path not in out.stdout.split():
        raise RuntimeError("busybox-static does not ship /bin/busybox")
    return path


def _busybox_version(binary):
    out = subprocess.run([binary], capture_output=True, text=True)
    first = (out.stdout or out.stderr).splitlines()[0]
    # "BusyBox v1.35.0 (Debian 1:1.35.0-4+b3) multi-call binary."
    return first.split()[1].lstrip("v")


@functools.lru_cache(maxsize=None)
def _busybox_base():
    binary = _busybox_binary()
    with open(binary, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return {"busybox": {"path": binary, "version": _busybox_version(binary), "sha256": digest}}


def _write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)


# Busybox-init system containers: busybox init halts on SIGUSR1 and reboots on SIGTERM.
_BUSYBOX_LXC_CONFIG = ["lxc.signal.halt = SIGUSR1", "lxc.signal.reboot = SIGTERM",
                       "lxc.autodev = 1", "lxc.tty.max = 1", "lxc.pty.max = 4",
                       "lxc.mount.auto = cgroup:mixed proc:mixed sys:mixed"]

_USERS = {
    "etc/passwd": ["root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/var:/bin/false\n", 0o644],
    "etc/shadow": ["root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n", 0o600],
    "etc/group": ["root:x:0:\nnogroup:x:65534:\n", 0o644],
}


def _read_tree_file(rel):
    with open(os.path.join(HERE, "rootfs", rel), encoding="utf-8") as handle:
        return handle.read()


def recipe_turrisos():
    """A *TurrisOS-like* container: what a Turris OS LXC container looks like from inside, not
    Turris OS.  Busybox (static, from Debian) with busybox init standing in for procd,
    OpenWrt's boot layout (``/etc/inittab`` -> ``/etc/init.d/rcS`` -> ``/etc/rc.d/S*``, the
    simulator's ``/etc/rc.common`` so ``/etc/init.d/X enable|disable|enabled|start`` work),
    ``/etc/turris-version``, ``/etc/openwrt_release``, ``/etc/os-release`` and a minimal
    ``/etc/config/{system,network}``.  As the seed project's TurrisOS template did, what cannot
    run in a container is switched off: the ``led`` and ``firewall`` services are installed but
    disabled (no ``/etc/rc.d`` link), there is no watchdog, and the system log has no kernel
    source (busybox ``syslogd`` without ``klogd``).

    Packages come as on Turris OS: ``opkg`` with ``/etc/opkg.conf``, ``/etc/opkg/distfeeds.conf``
    listing the simulator's telephony feed (tests/sim/telephony.py; on Turris OS the board's feeds
    at repo.turris.cz/hbs/<board>/packages/<feed>) and that feed's usign key in
    ``/etc/opkg/keys``, and ``uci``.  Both are the simulator's Python tools, run by a private
    interpreter under ``/usr/lib/turris-sim/python`` (not on PATH); the image carries the C library
    the feed's binaries are linked with (Debian sid's, from the telephony build root)."""
    import telephony  # pylint: disable=import-outside-toplevel
    _secret, tel_pub = telephony.ensure_key()
    tel_recipe = telephony.load_recipe()
    base = dict(_busybox_base(), runtime={"root": telephony.root_key(), "packages": tel_recipe["image_base"],
                                          "python_home": telephony.PYTHON_HOME})
    v = TURRIS_OS_VERSION
    files = dict(_USERS)
    files.update({
        "etc/turris-version": [v + "\n", 0o644],
        "etc/openwrt_release": [(
            "DISTRIB_ID='TurrisOS'\n"
            "DISTRIB_RELEASE='{v}'\n"
            "DISTRIB_REVISION='r16847+1-sim'\n"
            "DISTRIB_TARGET='lxc/container'\n"
            "DISTRIB_ARCH='all'\n"
            "DISTRIB_DESCRIPTION='TurrisOS {v} (LXC container, turris-sim)'\n"
            "DISTRIB_TAINTS=''\n").format(v=v), 0o644],
        "etc/os-release": [(
            'NAME="TurrisOS"\nVERSION="{v}"\nID="turrisos"\nID_LIKE="lede openwrt"\n'
            'PRETTY_NAME="TurrisOS {v}"\nVERSION_ID="{v}"\n').format(v=v), 0o644],
        "etc/banner": ["TurrisOS-like LXC container (turris-sim) %s\n" % v, 0o644],
        "etc/hostname": ["LXC_NAME\n", 0o644],
        "etc/config/system": [
            "\nconfig system\n"
            "\toption hostname 'LXC_NAME'\n"
            "\toption timezone 'UTC'\n"
            "\toption zonename 'UTC'\n"
            "\toption log_size '64'\n"
            "\t# no LEDs, no watchdog, no kernel log in a container\n", 0o644],
        "etc/config/network": [
            "\nconfig interface 'loopback'\n"
            "\toption device 'lo'\n"
            "\toption proto 'static'\n"
            "\toption ipaddr '127.0.0.1'\n"
            "\toption netmask '255.0.0.0'\n"
            "\nconfig interface 'lan'\n"
            "\toption device 'eth0'\n"
            "\t# LXC configures the address (lxc.net.0.ipv4.address) before init\n"
            "\toption proto 'none'\n", 0o644],
        "etc/inittab": [
            "# TurrisOS-like container: busybox init stands in for procd.\n"
            "::sysinit:/etc/init.d/rcS S boot\n"
            "::shutdown:/etc/init.d/rcS K shutdown\n"
            "::askfirst:/bin/ash --login\n", 0o644],
        "etc/init.d/rcS": [
            "#!/bin/sh\n"
            "# OpenWrt's rcS: run /etc/rc.d/$1* with $2 (S.. boot / K.. shutdown)\n"
            "mkdir -p /tmp/.uci /tmp/run /tmp/lock /tmp/log /var/run/procd-sim\n"
            "for s in /etc/rc.d/$1*; do\n"
            "\t[ -x \"$s\" ] && \"$s\" \"$2\" >>/tmp/log/rc.log 2>&1\n"
            "done\n"
            "exit 0\n", 0o755],
        "etc/rc.common": [_read_tree_file("etc/rc.common"), 0o755],
        "etc/init.d/boot": [
            "#!/bin/sh /etc/rc.common\n"
            "START=10\nSTOP=90\n"
            "boot() {\n"
            "\tmkdir -p /var/lock /var/log /var/state /tmp/sysinfo\n"
            "\thostname \"$(sed -n \"s/^[[:space:]]*option hostname '\\(.*\\)'/\\1/p\" /etc/config/system)\"\n"
            "\tip link set lo up\n"
            "}\n", 0o755],
        "etc/init.d/log": [
            "#!/bin/sh /etc/rc.common\n"
            "# the system log, without a kernel source (no klogd): a container has no kernel log\n"
            "START=12\nSTOP=89\n"
            "start() { syslogd -O /var/log/messages; }\n"
            "stop() { killall syslogd 2>/dev/null; return 0; }\n", 0o755],
        "etc/init.d/led": [
            "#!/bin/sh /etc/rc.common\n"
            "# disabled: a container has no LEDs\n"
            "START=96\n"
            "start() { return 0; }\n", 0o755],
        "etc/init.d/firewall": [
            "#!/bin/sh /etc/rc.common\n"
            "# disabled: the router's firewall is the host's, not the container's\n"
            "START=19\nSTOP=90\n"
            "start() { return 0; }\n", 0o755],
    })
    # opkg and uci as on Turris OS (OpenWrt's default opkg.conf; the feed's arch is the payload's)
    sim_lib = "usr/lib/turris-sim/"
    files.update({
        "etc/opkg.conf": ["dest root /\ndest ram /tmp\nlists_dir ext /var/opkg-lists\n"
                          "option overlay_root /overlay\noption check_signature\n"
                          "arch all 1\narch noarch 1\narch %s 10\n" % telephony.arch(), 0o644],
        "etc/opkg/distfeeds.conf": ["src/gz %s %s\n" % (telephony.FEED_NAME, telephony.feed_url()), 0o644],
        "etc/opkg/customfeeds.conf": ["# add your custom package feeds here\n", 0o644],
        "etc/opkg/keys/" + _usign_fingerprint(tel_pub): [tel_pub, 0o644],
        "bin/opkg": [_read_tree_file("bin/opkg"), 0o755],
        "bin/opkg-cl": [_read_tree_file("bin/opkg-cl"), 0o755],
        "sbin/uci": [_read_tree_file("sbin/uci"), 0o755],
    })
    for name in sorted(os.listdir(os.path.join(HERE, "rootfs", sim_lib))):
        if name.endswith(".py"):
            files[sim_lib + name] = [_read_tree_file(sim_lib + name), 0o644]
    for name in ("_opkg.py", "_usign.py", "_uci.py", "_files.py"):
        path = os.path.join(HERE, "..", "..", "plugins", "module_utils", name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                files[sim_lib + name] = [handle.read(), 0o644]
    return {
        "dist": "turrisos", "release": v.split(".", 1)[0], "variant": "default",
        "config": _BUSYBOX_LXC_CONFIG, "templates": ["/etc/hostname", "/etc/config/system"],
        "base": base, "files": files, "dirs": ["etc/updater/conf.d", "usr/lib/opkg/info"],
        "symlinks": {"etc/rc.d/S10boot": "../init.d/boot", "etc/rc.d/K90boot": "../init.d/boot",
                     "etc/rc.d/S12log": "../init.d/log", "etc/rc.d/K89log": "../init.d/log",
                     "var": "tmp"},
    }


def _usign_fingerprint(public_key_text):
    """The name ``opkg-key add`` gives a usign public key in /etc/opkg/keys."""
    sys.path.insert(0, os.path.join(HERE, "rootfs", "usr", "lib", "turris-sim"))
    import usign_sim  # pylint: disable=import-outside-toplevel
    return usign_sim._usign.parse_public_key(public_key_text).fingerprint  # pylint: disable=protected-access


# Debian under sysvinit as an LXC system container.  minbase has no init at all and systemd
# is not wanted on a router (size, cgroup needs), so sysvinit-core is the init: lxc-stop's
# SIGPWR (lxc.signal.halt default) is a "powerfail" -> runlevel 0; SIGINT (lxc.signal.reboot
# default) is ctrl-alt-del -> runlevel 6; services are Debian's /etc/init.d scripts
# (``service X start``, ``update-rc.d``), started at boot in runlevel 2.
_DEBIAN_INITTAB = (
    "# turris-sim Debian image: sysvinit in an LXC system container\n"
    "id:2:initdefault:\n"
    "si::sysinit:/etc/init.d/rcS\n"
    "l0:0:wait:/etc/init.d/rc 0\n"
    "l1:1:wait:/etc/init.d/rc 1\n"
    "l2:2:wait:/etc/init.d/rc 2\n"
    "l3:3:wait:/etc/init.d/rc 3\n"
    "l4:4:wait:/etc/init.d/rc 4\n"
    "l5:5:wait:/etc/init.d/rc 5\n"
    "l6:6:wait:/etc/init.d/rc 6\n"
    "# lxc-stop (SIGPWR) halts, lxc-stop -r (SIGINT) reboots\n"
    "p0::powerfail:/sbin/init 0\n"
    "p6::ctrlaltdel:/sbin/init 6\n"
    "# lxc-console: the container's console and its one tty\n"
    "c0:2345:respawn:/sbin/getty --noclear 38400 console\n"
    "1:2345:respawn:/sbin/getty --noclear 38400 tty1\n")

_DEBIAN_LXC_CONFIG = ["lxc.autodev = 1", "lxc.tty.max = 1", "lxc.pty.max = 16",
                      "lxc.mount.auto = cgroup:mixed proc:mixed sys:mixed",
                      "lxc.cap.drop = mac_admin mac_override sys_time sys_module sys_rawio"]

# The boot and shutdown scripts that must not run in a container: root is the host's file
# system (no fsck, and never remount it read-only: a privileged container would do it to the
# host); LXC mounted /proc, /sys, /dev and set the address already.
# sysctl (procps) is the host's to set, udev and the hardware clock are the host's too.
_DEBIAN_NOT_IN_CONTAINER = ["checkroot.sh", "checkfs.sh", "checkroot-bootclean.sh", "umountfs",
                            "umountroot", "umountnfs.sh", "hwclock.sh", "procps", "udev"]


def _debian(suite, include, extra_files=None, chroot=()):
    files = {
        "etc/inittab": [_DEBIAN_INITTAB, 0o644],
        "etc/hostname": ["LXC_NAME\n", 0o644],
        "etc/hosts": ["127.0.0.1\tlocalhost\n127.0.1.1\tLXC_NAME\n"
                      "::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644],
        # the container's DNS is its own configuration's business, not the build host's
        "etc/resolv.conf": ["", 0o644],
        "etc/fstab": ["# LXC mounts what the container needs (lxc.mount.auto, lxc.mount.entry)\n", 0o644],
    }
    if "ifupdown" in include:
        files["etc/network/interfaces"] = [
            "# LXC configures eth0's address before init (lxc.net.0.ipv4.address/gateway);\n"
            "# replace 'manual' with 'dhcp' (and install a DHCP client) to use DHCP instead.\n"
            "source /etc/network/interfaces.d/*\n\n"
            "auto lo\niface lo inet loopback\n\n"
            "iface eth0 inet manual\n", 0o644]
    files.update(extra_files or {})
    commands = [["update-rc.d", "-f", s, "remove"] for s in _DEBIAN_NOT_IN_CONTAINER]
    return {
        "config": _DEBIAN_LXC_CONFIG, "templates": ["/etc/hostname", "/etc/hosts"],
        "base": {"debootstrap": {"suite": suite, "variant": "minbase", "mirror": DEBIAN_MIRROR,
                                 "include": sorted(set(["sysvinit-core", "iproute2", "procps", "netbase"]
                                                       + list(include)))}},
        "files": files, "dirs": ["etc/inittab.d"] + (["etc/network/interfaces.d"] if "ifupdown" in include else []),
        "chroot": commands + [list(c) for c in chroot],
        "remove": ["etc/machine-id", "var/lib/dbus/machine-id"], "slim": True,
    }


def recipe_debian():
    """Debian stable (bookworm) minbase with sysvinit, ifupdown, iproute2, procps, netbase."""
    spec = _debian("bookworm", ["ifupdown"])
    spec.update({"dist": "debian", "release": "bookworm", "variant": "default"})
    return spec


RECIPES = {"turrisos": recipe_turrisos, "debian": recipe_debian}


def selected_recipes():
    """The recipes to build and serve: ``$TURRIS_SIM_IMAGES`` (comma-separated names) or all.
    debian (~2 min) is debootstrapped; turrisos takes seconds once the telephony build root
    (tests/sim/telephony.py, a few minutes, once) is there."""
    names = [n for n in os.environ.get("TURRIS_SIM_IMAGES", "").replace(" ", ",").split(",") if n]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise ValueError("unknown image recipe(s) in TURRIS_SIM_IMAGES: %s (known: %s)"
                         % (", ".join(unknown), ", ".join(sorted(RECIPES))))
    return sorted(names or RECIPES)


# --------------------------------------------------------------------------- server naming
#
# The simulator's one HTTPS server publishes an index per kind of real image server, each under
# its own path (the download template's --server is host[:port][/path], as in repo.turris.cz/lxc).
# What a real server of that kind offers, under its names; the payload is the same image.
#
# "lxc" is repo.turris.cz/lxc, Turris OS's default server (/etc/config/lxc, LuCI's "Containers
# URL"): case-sensitive capitalized names and the kernel's arch names (uname -m).  Sources:
# turris-cz/user-docs docs/geek/lxc/lxc.md ("repo.turris.cz/lxc ... a set of selected Linux
# distributions including Turris OS"; the arch is armv7l) and its CLI cheat sheet
# (`-d Debian -r Bullseye -a armv7l --server repo.turris.cz/lxc`, "values are case sensitive");
# CZ-NIC/turris-misc's index generator for that server (lines `Turris_OS;stable;armv7l;...`,
# `Turris_OS;stable;ppc;...`: Turris OS is `Turris_OS`, release `stable`, the Turris 1.x is `ppc`);
# CZ-NIC/turris-os#85 (`-d Debian -r Buster -a armv7l`).  The MOX (aarch64) is listed like the
# Omnia; Debian is not offered for ppc (no Debian userland on the e500 without MATH_EMULATION).
#
# "linuxcontainers" is images.linuxcontainers.org, LuCI's other choice: lowercase names and
# Debian's arch names (`-d debian -r bookworm -a armhf`, user-docs' cheat sheet), no Turris OS and
# no 32-bit PowerPC.
#
# server path -> recipe -> (dist, release, variant, [arch, ...])
SERVERS = {
    "lxc": {"turrisos": ("Turris_OS", "stable", "default", ["aarch64", "armv7l", "ppc"]),
            "debian": ("Debian", "Bookworm", "default", ["aarch64", "armv7l"])},
    "linuxcontainers": {"debian": ("debian", "bookworm", "default", ["arm64", "armhf"])},
}


def served_recipes():
    """The recipes some kind of server offers: the ones to build for the fleet."""
    return sorted(set(r for names in SERVERS.values() for r in names))


def server_entries(descs, server):
    """The index entries of ``server`` (a key of SERVERS) for built images ``descs``: one per
    arch it lists, named as that server names them.  Images it does not offer are left out."""
    names = SERVERS[server]
    out = []
    for desc in descs:
        if desc["recipe"] in names:
            dist, release, variant, arches = names[desc["recipe"]]
            out += [dict(desc, dist=dist, release=release, variant=variant, arch=a) for a in arches]
    return out


def make_servers(descs, root):
    """Both kinds of server under ``root``: ``root/<server>/meta/1.0/index-system`` and its
    images.  Returns {server: document root}."""
    return dict((server, make_tree(server_entries(descs, server), os.path.join(root, server)))
                for server in sorted(SERVERS))


# --------------------------------------------------------------------------- building
def spec_of(name):
    """The declared spec of recipe ``name`` (nothing is built)."""
    return RECIPES[name]()


def cache_key(name, arch=None, spec=None):
    """The cache key of recipe ``name``'s image: a hash of its spec, computed without building."""
    arch = arch or host_image_arch()
    spec = spec if spec is not None else spec_of(name)
    blob = json.dumps([name, RECIPE_VERSION, arch, spec], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def image_dir(name, cache=CACHE, arch=None):
    """Where the image of recipe ``name`` is (or will be) cached."""
    arch = arch or host_image_arch()
    return os.path.join(cache, "%s-%s-%s" % (name, arch, cache_key(name, arch)))


def prune(cache=CACHE, arch=None):
    """Remove cached images whose recipe no longer declares them (older keys); return their dirs.
    Not done by :func:`build`: work trees with different recipes may share one cache."""
    arch = arch or host_image_arch()
    current = {os.path.basename(image_dir(name, cache, arch)) for name in RECIPES}
    removed = []
    for entry in sorted(os.listdir(cache)) if os.path.isdir(cache) else []:
        path = os.path.join(cache, entry)
        if entry.endswith(".lock") and entry[:-5] not in current:
            os.unlink(path)
        elif (entry.rsplit("-", 2)[0] in RECIPES and entry not in current and not entry.endswith(".lock")
              and os.path.isfile(os.path.join(path, "image.json"))):
            shutil.rmtree(path)
            removed.append(path)
    return removed


def _debootstrap(rootfs, boot, arch):
    if arch != host_image_arch():
        raise RuntimeError("debootstrap images are built for the host's architecture only")
    debs = _ensure(os.path.join(DEBOOTSTRAP_CACHE, "%s-%s" % (boot["suite"], arch)))
    cmd = ["debootstrap", "--variant=" + boot["variant"], "--arch=" + arch, "--cache-dir=" + debs]
    if boot["include"]:
        cmd.append("--include=" + ",".join(boot["include"]))
    cmd += [boot["suite"], rootfs, boot["mirror"]]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        log = os.path.join(rootfs, "debootstrap", "debootstrap.log")
        tail = open(log, encoding="utf-8", errors="replace").read()[-3000:] if os.path.exists(log) else ""
        raise RuntimeError("debootstrap failed (%d): %s\n%s\n%s" % (res.returncode, " ".join(cmd),
                                                                 res.stderr[-3000:], tail))


def _busybox_tree(rootfs, box):
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc/init.d", "dev", "proc", "sys", "tmp",
              "run", "root", "var/log", "mnt"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    shutil.copy2(box["path"], os.path.join(rootfs, "bin/busybox"))
    applets = subprocess.run([box["path"], "--list-full"], check=True, capture_output=True, text=True)
    for applet in applets.stdout.split():
        link = os.path.join(rootfs, applet)
        if applet == "bin/busybox" or os.path.lexists(link):
            continue
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink("/bin/busybox", link)


_SLIM_DPKG = ("# turris-sim images: no documentation, man pages or translations (copyrights kept)\n"
              "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n"
              "path-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\n"
              "path-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n"
              "path-exclude /usr/share/lintian/*\n")


def _slim(rootfs):
    _write(os.path.join(rootfs, "etc/dpkg/dpkg.cfg.d/turris-sim-slim"), _SLIM_DPKG)
    for top in ("usr/share/man", "usr/share/info", "usr/share/lintian"):
        shutil.rmtree(os.path.join(rootfs, top), ignore_errors=True)
    for top, keep in (("usr/share/doc", "copyright"), ("usr/share/locale", "locale.alias")):
        base = os.path.join(rootfs, top)
        for dirpath, dirnames, filenames in os.walk(base, topdown=False):
            for f in filenames:
                if f != keep:
                    os.unlink(os.path.join(dirpath, f))
            for d in dirnames:
                p = os.path.join(dirpath, d)
                if os.path.islink(p):
                    os.unlink(p)
                elif not os.listdir(p):
                    os.rmdir(p)


def _clean_apt(rootfs):
    """apt's lists and caches and the build's logs are not part of an image."""
    for rel in ("var/lib/apt/lists", "var/cache/apt/archives"):
        d = os.path.join(rootfs, rel)
        if os.path.isdir(d):
            for entry in os.listdir(d):
                p = os.path.join(d, entry)
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                    if entry == "partial":
                        os.mkdir(p)
                elif entry != "lock":
                    os.unlink(p)
    for rel in ("var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin", "var/log/bootstrap.log",
                "var/log/dpkg.log", "var/log/alternatives.log", "var/log/apt/history.log",
                "var/log/apt/term.log", "var/log/apt/eipp.log.xz"):
        p = os.path.join(rootfs, rel)
        if os.path.lexists(p):
            os.unlink(p)


def _fill(rootfs, spec, arch):
    """Make the root filesystem ``spec`` declares in the empty directory ``rootfs``."""
    base = spec["base"]
    if "debootstrap" in base:
        _debootstrap(rootfs, base["debootstrap"], arch)
    elif "busybox" in base:
        _busybox_tree(rootfs, base["busybox"])
    else:
        raise ValueError("unknown base %r" % (base,))
    if "runtime" in base:  # the C library and the private Python of the simulated opkg
        import telephony  # pylint: disable=import-outside-toplevel
        telephony.runtime_tree(rootfs, base["runtime"]["packages"])
    for d in ("tmp", "var/tmp"):
        p = os.path.join(rootfs, d)
        if os.path.isdir(p) and not os.path.islink(p):
            os.chmod(p, 0o1777)
    for rel in spec.get("dirs", []):
        os.makedirs(os.path.join(rootfs, rel), exist_ok=True)
    for rel, (content, mode) in sorted(spec.get("files", {}).items()):
        path = os.path.join(rootfs, rel)
        if os.path.lexists(path) and (os.path.islink(path) or not os.path.isfile(path)):
            os.unlink(path)
        _write(path, content, mode)
    for rel, target in sorted(spec.get("symlinks", {}).items()):
        path = os.path.join(rootfs, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(path):
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
        os.symlink(target, path)
    for argv in spec.get("chroot", []):
        subprocess.run(["chroot", rootfs] + list(argv), check=True, capture_output=True,
                       env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})
    for rel in spec.get("remove", []):
        p = os.path.join(rootfs, rel)
        if os.path.lexists(p):
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
    if spec.get("slim"):
        _slim(rootfs)
    _clean_apt(rootfs)


def _tar_xz(src_dir, dest):
    # Multi-threaded xz at level 2: on 2 cores the asterisk rootfs (~300 MB) takes ~35 s instead
    # of ~160 s at the default -6, for ~10% more bytes.  The download template unpacks it with tar -J.
    subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", src_dir, "-cf", dest, "-I", "xz -T0 -2", "."],
                   check=True)


def build(name, cache=CACHE, arch=None):
    """Build the image of recipe ``name`` (or reuse the cached one); return its description:
    ``{recipe, dist, release, arch, variant, build, dir}`` where ``dir`` holds rootfs.tar.xz
    and meta.tar.xz.  The cache key comes from the recipe's declared spec, so a cached image
    is found without running the recipe; builds of one image are serialized by a lock file."""
    arch = arch or host_image_arch()
    spec = spec_of(name)
    key = cache_key(name, arch, spec)
    final = os.path.join(_ensure(cache), "%s-%s-%s" % (name, arch, key))
    desc_path = os.path.join(final, "image.json")
    if os.path.isfile(desc_path):
        return _load_desc(final)
    with open(final + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not os.path.isfile(desc_path):  # else built meanwhile by someone else
                _build(name, spec, arch, cache, final)
            return _load_desc(final)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load_desc(final):
    with open(os.path.join(final, "image.json"), encoding="utf-8") as handle:
        desc = json.load(handle)
    desc["dir"] = final  # where it is now (a cache directory may be moved or copied)
    return desc


def _build(name, spec, arch, cache, final):
    work = tempfile.mkdtemp(prefix="image-%s-" % name, dir=cache)
    try:
        rootfs = os.path.join(work, "rootfs")
        os.mkdir(rootfs)
        _fill(rootfs, spec, arch)
        build_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d_%H:%M")
        metadir = os.path.join(work, "meta")
        os.mkdir(metadir)
        _write(os.path.join(metadir, "config"), "\n".join(spec["config"]) + "\n")
        _write(os.path.join(metadir, "templates"), "\n".join(spec["templates"]) + "\n")
        _write(os.path.join(metadir, "create-message"), "Built by tests/sim/images.py (%s).\n" % name)
        _write(os.path.join(metadir, "expiry"), "%d\n" % (2 ** 31 - 1))
        out = os.path.join(work, "out")
        os.mkdir(out)
        _tar_xz(rootfs, os.path.join(out, "rootfs.tar.xz"))
        _tar_xz(metadir, os.path.join(out, "meta.tar.xz"))
        desc = {"recipe": name, "dist": spec["dist"], "release": spec["release"], "arch": arch,
                "variant": spec["variant"], "build": build_id, "dir": final}
        _write(os.path.join(out, "image.json"), json.dumps(desc, indent=1) + "\n")
        if os.path.isdir(final):  # a partial leftover (no image.json): ours replaces it
            shutil.rmtree(final)
        os.rename(out, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _ensure(path):
    os.makedirs(path, exist_ok=True)
    return path


def make_tree(images, root):
    """Lay out ``images`` (descriptions from :func:`build`) as a server document root."""
    lines = []
    for img in images:
        rel = "images/%s/%s/%s/%s/%s" % (img["dist"], img["release"], img["arch"], img["variant"], img["build"])
        target = os.path.join(root, rel)
        os.makedirs(target, exist_ok=True)
        for f in ("rootfs.tar.xz", "meta.tar.xz"):
            dest = os.path.join(target, f)
            if not os.path.exists(dest):
                os.symlink(os.path.join(img["dir"], f), dest)
        lines.append(";".join([img["dist"], img["release"], img["arch"], img["variant"], img["build"], "/" + rel + "/"]))
    _write(os.path.join(root, "meta/1.0/index-system"), "\n".join(lines) + "\n")
    return root


# --------------------------------------------------------------------------- TLS
def tls_material(addresses, cache=CACHE):
    """A private CA and a server certificate for ``addresses`` (IPs or names), plus a wgetrc
    that trusts the CA.  Returns ``{ca, cert, key, wgetrc}`` paths.  Made under a lock, and a
    cached server certificate that the CA does not sign (a CA made again) is made again."""
    tls = _ensure(os.path.join(cache, "tls"))
    with open(os.path.join(tls, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _tls_material_locked(tls, addresses)


def _tls_material_locked(tls, addresses):
    ca_key, ca = os.path.join(tls, "ca.key"), os.path.join(tls, "ca.pem")
    if not (os.path.exists(ca) and os.path.exists(ca_key)):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
                        "-out", ca, "-days", "3650", "-subj", "/CN=turris-sim image CA"],
                       check=True, capture_output=True)
    names = sorted(set(addresses) | {"127.0.0.1", "localhost"})
    tag = hashlib.sha256(",".join(names).encode()).hexdigest()[:12]
    key, cert = os.path.join(tls, "server-%s.key" % tag), os.path.join(tls, "server-%s.pem" % tag)
    signed = os.path.exists(cert) and subprocess.run(
        ["openssl", "verify", "-CAfile", ca, cert], capture_output=True, check=False).returncode == 0
    if not signed:
        san = ",".join(("IP:%s" % n) if _is_ip(n) else ("DNS:%s" % n) for n in names)
        with tempfile.TemporaryDirectory() as tmp:
            csr, ext = os.path.join(tmp, "csr"), os.path.join(tmp, "ext")
            _write(ext, "subjectAltName=%s\nbasicConstraints=CA:FALSE\n" % san)
            subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                            "-subj", "/CN=%s" % names[0]], check=True, capture_output=True)
            subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                            "-CAcreateserial", "-out", cert, "-days", "3650", "-extfile", ext],
                           check=True, capture_output=True)
    wgetrc = os.path.join(tls, "wgetrc")
    if not os.path.exists(wgetrc):
        _write(wgetrc, "ca_certificate = %s\n" % ca)
    return {"ca": ca, "cert": cert, "key": key, "wgetrc": wgetrc}


def _is_ip(text):
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- serving
class _Handler(http.server.SimpleHTTPRequestHandler):
    def translate_path(self, path):
        # The index paths start with "/", so the template asks for "https://server//images/...".
        while path.startswith("//"):
            path = path[1:]
        return super().translate_path(path)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if os.environ.get("TURRIS_SIM_IMAGE_LOG"):
            super().log_message(format, *args)


class ImageServer:
    """Serve ``root`` on ``host:port`` (port 0 = any free one) in a thread; HTTPS unless ``plain``.
    ``server`` is what the download template's ``--server`` wants (host:port, no scheme)."""

    def __init__(self, root, host="127.0.0.1", port=0, plain=False, cache=CACHE):
        self.root = root
        handler = functools.partial(_Handler, directory=root)
        self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        self.tls = None
        if not plain:
            self.tls = tls_material([host], cache=cache)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls["cert"], self.tls["key"])
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.host, self.port = host, self.httpd.server_address[1]
        self.server = "%s:%d" % (host, self.port)
        self.url = "%s://%s" % ("http" if plain else "https", self.server)
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build images and print their descriptions")
    b.add_argument("recipes", nargs="*", default=selected_recipes())
    sub.add_parser("prune", help="remove cached images of older recipes")
    s = sub.add_parser("serve", help="build, lay out and serve images until killed")
    s.add_argument("recipes", nargs="*", default=selected_recipes())
    s.add_argument("--bind", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--plain", action="store_true", help="HTTP instead of HTTPS")
    s.add_argument("--root", help="document root (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.cmd == "prune":
        for path in prune():
            print(path)
        return 0
    images = [build(r) for r in args.recipes]
    if args.cmd == "build":
        print(json.dumps(images, indent=1))
        return 0
    root = args.root or tempfile.mkdtemp(prefix="turris-sim-images-")
    make_servers(images, root)
    srv = ImageServer(root, args.bind, args.port, plain=args.plain)
    info = {"servers": dict((s, "%s/%s" % (srv.server, s)) for s in sorted(SERVERS)), "url": srv.url,
            "root": root, "images": images}
    if srv.tls:
        info["wgetrc"] = srv.tls["wgetrc"]
        info["ca"] = srv.tls["ca"]
    print(json.dumps(info), flush=True)
    try:
        srv.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
