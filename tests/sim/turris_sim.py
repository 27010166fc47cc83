#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Simulated Turris routers: privileged LXC system containers that look like Turris OS.

    turris_sim.py up --count N --board turris1x|omnia|mox|mixed [--fleet NAME] [--no-python 1,3]
    turris_sim.py down [--fleet NAME]
    turris_sim.py status [--fleet NAME] [--json]
    turris_sim.py inventory [--fleet NAME]

Everything it creates lives under $TSIM_HOME (default /var/lib/turris-sim), is named
``tsim-*`` and hangs off one bridge, ``tsimbr0``; ``down`` without ``--fleet`` removes all of
it. See tests/sim/README.md for what a router looks like and why.
"""
import argparse
import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed  # noqa: E402  (tests/sim/feed.py: the fleet's signed package feeds)
import images  # noqa: E402  (tests/sim/images.py: the fleet's LXC image server)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HOME = Path(os.environ.get("TSIM_HOME", "/var/lib/turris-sim"))
LXCPATH = HOME / "lxc"
BRIDGE = os.environ.get("TSIM_BRIDGE", "tsimbr0")
NET_PREFIX = os.environ.get("TSIM_NET", "10.213.64")  # a /24 that only exists on our bridge
BRIDGE_ADDR = NET_PREFIX + ".1"
FIRST_HOST = 11
# Per fleet: `make bench` runs a 50-router fleet (about 60 MB a router idle); all fleets together
# stay inside the /24 (addresses FIRST_HOST to 249): two 50-router bench fleets beside other test runs.
MAX_COUNT = 50
MAX_ROUTERS = 160
MIRROR = os.environ.get("TSIM_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
BASE_PACKAGES = [
    "python3", "dropbear-bin", "busybox", "openssh-client", "iproute2", "gzip", "xz-utils",
    "ca-certificates", "procps",
]
TURRIS_OS_VERSION = "7.2.3"

# What differs between boards. The CPU is always the host's; names, arches and the
# kernel config are the board's.
BOARDS = {
    "turris1x": {
        "board_name": "cznic,turris1x",
        "model": "Turris 1.x",
        "target": "mpc85xx/p2020",
        "opkg_arch": "powerpc_8548",
        "cpu": "ppc",
        "lxc_arch": "ppc",
        "kernel": "3.10.49",
    },
    "omnia": {
        "board_name": "cznic,turris-omnia",
        "model": "Turris Omnia",
        "target": "mvebu/cortexa9",
        "opkg_arch": "arm_cortex-a9_vfpv3-d16",
        "cpu": "armv7l",
        "lxc_arch": "armv7l",
        "kernel": "6.1.176",
        "btrfs_root": True,
    },
    "mox": {
        "board_name": "cznic,turris-mox",
        "model": "CZ.NIC Turris Mox Board",
        "target": "mvebu/cortexa53",
        "opkg_arch": "aarch64_cortex-a53",
        "cpu": "aarch64",
        "lxc_arch": "aarch64",
        "kernel": "6.1.176",
        "btrfs_root": True,
    },
}
MIXED = ["turris1x", "omnia", "mox"]

# The simulator's own tools (uci, opkg, usign: C programs on a real Turris) are Python programs
# here. They run with a private interpreter, bind-mounted from the base at this path, which is on
# no PATH and has none of the names Ansible's interpreter discovery tries, so that a router made
# with --no-python really has no Python a playbook could use. A simulation detail: a real
# Turris/OpenWrt has nothing there.
SIM_PYTHON_PREFIX = "usr/lib/turris-sim/python"
# What a freshly flashed OpenWrt lacks and the base (Debian) has: hidden (overlay whiteouts) on a
# router made with --no-python. Globs relative to the base root.
PYTHON_PATHS = ["usr/bin/python3*", "usr/bin/pydoc3*", "usr/bin/pygettext3*", "usr/bin/py3*",
                "usr/lib/python3", "usr/lib/python3.*", "usr/local/lib/python3*", "etc/python3*",
                "usr/share/python3", "usr/lib/binfmt.d/python3*"]


class SimError(Exception):
    """A problem the user can act on: printed as one line, exit status 2."""


def log(msg):
    print("turris-sim: " + msg, file=sys.stderr, flush=True)


def run(cmd, check=True, capture=False, **kw):
    res = subprocess.run(cmd, check=False, text=True,
                         stdout=subprocess.PIPE if capture else None,
                         stderr=subprocess.PIPE if capture else None, **kw)
    if check and res.returncode != 0:
        detail = (res.stderr or "").strip().splitlines()[-5:] if capture else []
        raise SimError("command failed (%d): %s %s" % (res.returncode, " ".join(map(str, cmd)),
                                                       " | ".join(detail)))
    return res


# --------------------------------------------------------------------------- state

def state_path():
    return HOME / "state.json"


def load_state():
    try:
        return json.loads(state_path().read_text())
    except FileNotFoundError:
        return {"routers": {}}


def save_state(state):
    HOME.mkdir(parents=True, exist_ok=True)
    tmp = state_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(state_path())


# --------------------------------------------------------------------------- base image

def base_recipe():
    """Everything the cached base root filesystem depends on: change it and the base is rebuilt."""
    h = hashlib.sha256()
    h.update(json.dumps([SUITE, MIRROR, BASE_PACKAGES, 4]).encode())
    return h.hexdigest()[:16]


def ensure_base():
    key = base_recipe()
    base = HOME / "base" / key
    rootfs = base / "rootfs"
    if (base / ".done").exists():
        return rootfs
    if base.exists():
        shutil.rmtree(base)
    rootfs.mkdir(parents=True)
    log("building the router base image (debootstrap %s, once; cached in %s)" % (SUITE, base))
    run(["debootstrap", "--variant=minbase", "--include=" + ",".join(BASE_PACKAGES), SUITE,
         str(rootfs), MIRROR], capture=True)
    # Turris OS personality that does not depend on the board.
    sh = rootfs / "bin" / "sh"
    sh.unlink()
    sh.symlink_to("busybox")  # OpenWrt's /bin/sh is busybox ash; bash-isms must fail here too
    init = rootfs / "sbin" / "init"
    if init.exists() or init.is_symlink():
        init.unlink()
    init.symlink_to("/bin/busybox")
    for applet in ("ash", "vi", "ping", "wget", "nc"):
        p = rootfs / "usr" / "bin" / applet
        if not p.exists():
            p.symlink_to("/bin/busybox")
    for d in ("var/cache/apt/archives", "var/lib/apt/lists"):
        shutil.rmtree(rootfs / d, ignore_errors=True)
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    # Nothing should tell a Debian underneath: Ansible's facts read these first.
    for rel in ("etc/debian_version", "etc/os-release", "usr/lib/os-release"):
        p = rootfs / rel
        if p.exists() or p.is_symlink():
            p.unlink()
    # Debian's own package manager must not be mistaken for opkg's: move it aside.
    for tool in ("usr/bin/apt", "usr/bin/apt-get"):
        p = rootfs / tool
        if p.exists():
            p.rename(p.with_name(p.name + ".debian"))
    (base / ".done").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
    # Older bases are of no further use.
    for other in (HOME / "base").iterdir():
        if other.name != key and not any(r.get("base") == other.name
                                         for r in load_state()["routers"].values()):
            shutil.rmtree(other, ignore_errors=True)
    return rootfs


# --------------------------------------------------------------------------- host network

def ensure_bridge():
    if run(["ip", "link", "show", BRIDGE], check=False, capture=True).returncode != 0:
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    res = run(["ip", "-4", "-o", "addr", "show", "dev", BRIDGE], capture=True)
    if BRIDGE_ADDR + "/24" not in res.stdout:
        run(["ip", "addr", "add", BRIDGE_ADDR + "/24", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def remove_bridge():
    if run(["ip", "link", "show", BRIDGE], check=False, capture=True).returncode == 0:
        run(["ip", "link", "del", BRIDGE])


def ensure_ssh_key():
    key = HOME / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "turris-sim", "-f", str(key)])
    return key


# --------------------------------------------------------------------------- one router

def router_files(board, hostname):
    """Board-specific files of the Turris OS personality, as {path: (content, mode)}."""
    b = BOARDS[board]
    files = {
        "etc/turris-version": (TURRIS_OS_VERSION + "\n", 0o644),
        "etc/openwrt_release": ((
            "DISTRIB_ID='TurrisOS'\n"
            "DISTRIB_RELEASE='{v}'\n"
            "DISTRIB_REVISION='r16847+1-sim'\n"
            "DISTRIB_TARGET='{t}'\n"
            "DISTRIB_ARCH='{a}'\n"
            "DISTRIB_DESCRIPTION='TurrisOS {v}'\n"
            "DISTRIB_TAINTS=''\n").format(v=TURRIS_OS_VERSION, t=b["target"], a=b["opkg_arch"]), 0o644),
        "etc/os-release": ((
            'NAME="TurrisOS"\n'
            'VERSION="{v}"\n'
            'ID="turrisos"\n'
            'ID_LIKE="lede openwrt"\n'
            'PRETTY_NAME="TurrisOS {v}"\n'
            'VERSION_ID="{v}"\n'
            'OPENWRT_BOARD="{t}"\n'
            'OPENWRT_ARCH="{a}"\n').format(v=TURRIS_OS_VERSION, t=b["target"], a=b["opkg_arch"]), 0o644),
        "etc/turris-sim/board": (board + "\n", 0o644),
        "etc/turris-sim/board_name": (b["board_name"] + "\n", 0o644),
        "etc/turris-sim/model": (b["model"] + "\n", 0o644),
        "etc/turris-sim/uname_m": (b["cpu"] + "\n", 0o644),
        "etc/hostname": (hostname + "\n", 0o644),
        "etc/opkg.conf": ((
            "dest root /\n"
            "dest ram /tmp\n"
            "lists_dir ext /var/opkg-lists\n"
            "option overlay_root /overlay\n"
            "option check_signature\n"
            "arch all 1\n"
            "arch noarch 1\n"
            "arch {a} 10\n").format(a=b["opkg_arch"]), 0o644),
        # Where Turris's download template and LuCI look for the image server, in luci-app-lxc's
        # format (openwrt/luci applications/luci-app-lxc: root/etc/config/lxc, `config lxc 'lxc'` /
        # `option url`; overview.js: min_space and min_temp, 100000 KB by default). Turris OS points
        # it at repo.turris.cz/lxc (turris-cz/user-docs docs/geek/lxc/lxc.md): here its stand-in.
        "etc/config/lxc": ((
            "\nconfig lxc 'lxc'\n"
            "\toption url '{u}'\n"
            "\toption min_space '100000'\n"
            "\toption min_temp '100000'\n").format(u=IMAGES_SERVER), 0o644),
        "etc/config/system": ((
            "\nconfig system\n"
            "\toption hostname '{h}'\n"
            "\toption timezone 'CET-1CEST,M3.5.0,M10.5.0/3'\n"
            "\toption zonename 'Europe/Prague'\n"
            "\toption ttylogin '0'\n"
            "\toption log_size '64'\n"
            "\toption urandom_seed '0'\n"
            "\nconfig timeserver 'ntp'\n"
            "\toption enabled '0'\n"
            "\toption enable_server '0'\n").format(h=hostname), 0o644),
    }
    return files


def router_ip(state, name):
    used = {r["ip"] for n, r in state["routers"].items() if n != name}
    # Addresses whose host-side veth still exists belong to a router too, recorded or not.
    links = run(["ip", "-o", "link"], capture=True).stdout
    used |= {"%s.%d" % (NET_PREFIX, int(m)) for m in re.findall(r"^\d+: tsim(\d+)[@:]", links, re.M)}
    if name in state["routers"]:
        return state["routers"][name]["ip"]
    for host in range(FIRST_HOST, 250):
        ip = "%s.%d" % (NET_PREFIX, host)
        if ip not in used:
            return ip
    raise SimError("no free address left on %s" % BRIDGE)


def lxc(*args, check=True, capture=True):
    return run([args[0], "-P", str(LXCPATH)] + list(args[1:]), check=check, capture=capture)


def router_running(name):
    res = lxc("lxc-info", "-n", name, "-s", "-H", check=False)
    return res.returncode == 0 and res.stdout.strip() == "RUNNING"


def router_exists(name):
    return (LXCPATH / name / "config").exists()


def router_recipe(board, feeds, image_ca, python=True):
    """Hash of what a router is made from besides the base: the overlay, our module_utils, the
    board's kernel config, the feeds, whether it has Python. A router made from another recipe is
    made again by ``up``."""
    h = hashlib.sha256()
    paths = sorted(p for p in (HERE / "rootfs").rglob("*") if p.is_file() or p.is_symlink())
    paths += sorted((ROOT / "plugins" / "module_utils").glob("_*.py"))
    paths.append(HERE / "boards" / (board + ".config"))
    paths.append(HERE / "schnapps")
    for p in paths:
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(os.readlink(p).encode() if p.is_symlink() else p.read_bytes())
    h.update(json.dumps([board, feeds.get("dist_key"), feeds.get("feeds", {}).get(BOARDS[board]["opkg_arch"]),
                         sorted(router_files(board, "x")), bool(python)], sort_keys=True).encode())
    h.update(Path(__file__).read_bytes())
    h.update(Path(image_ca).read_bytes())
    return h.hexdigest()[:16]


def lower_path(lower, rel):
    """``rel`` with its directories resolved through the base's symlinks (``bin`` -> ``usr/bin``
    on a merged-/usr Debian), so that a file added in the overlay does not hide them."""
    cur = Path()
    parts = Path(rel).parts
    for part in parts[:-1]:
        cand = lower / cur / part
        if cand.is_symlink():
            target = os.readlink(cand)
            cur = Path(os.path.normpath(cur / target)) if not target.startswith("/") else Path(target.lstrip("/"))
        else:
            cur = cur / part
    return cur / parts[-1]


def overlay_copy(src, upper, lower):
    for dirpath, dirnames, filenames in os.walk(src):
        for fn in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath) / fn
            rel = path.relative_to(src)
            if fn == ".keep":
                (upper / lower_path(lower, rel)).parent.mkdir(parents=True, exist_ok=True)
                continue
            dest = upper / lower_path(lower, rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                if dest.is_symlink() or dest.exists():
                    dest.unlink()
                dest.symlink_to(os.readlink(path))
            else:
                shutil.copy2(path, dest)


def base_python(base_rootfs):
    """(interpreter, standard library) of the base, relative to its root: what the simulator's
    tools run with, bind-mounted under SIM_PYTHON_PREFIX."""
    link = base_rootfs / "usr" / "bin" / "python3"
    exe = os.path.basename(os.readlink(link)) if link.is_symlink() else "python3"
    if not (base_rootfs / "usr" / "bin" / exe).is_file() or not re.match(r"python3\.\d+$", exe):
        raise SimError("the router base %s has no python3.X interpreter: remove it to have it built again" % base_rootfs)
    return "usr/bin/" + exe, "usr/lib/" + exe


def python_whiteouts(base_rootfs):
    """Paths of the base that a router without Python must not show, relative to the root."""
    found = set()
    for pattern in PYTHON_PATHS:
        found.update(str(p.relative_to(base_rootfs)) for p in base_rootfs.glob(pattern))
    return sorted(found)


def whiteout(upper, rel):
    """Hide ``rel`` of the lower layer: an overlayfs whiteout (a 0/0 character device) in ``upper``."""
    p = upper / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.is_symlink() or p.is_file():
        p.unlink()
    elif p.is_dir():
        shutil.rmtree(p)
    os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def create_router(state, name, board, index, base_rootfs, key, feeds, image_ca, python=True):
    cdir = LXCPATH / name
    if cdir.exists():
        destroy_router(name, state)
    ip = router_ip(state, name)
    hostname = "turris-%s-%d" % (board.replace("turris1x", "1x"), index)
    upper = cdir / "delta"
    upper.mkdir(parents=True)
    # Repository files (tools, init scripts) and our module_utils for the simulator's tools.
    overlay_copy(HERE / "rootfs", upper, base_rootfs)
    libdir = upper / "usr" / "lib" / "turris-sim"
    libdir.mkdir(parents=True, exist_ok=True)
    for mu in (ROOT / "plugins" / "module_utils").glob("_*.py"):
        shutil.copy2(mu, libdir / mu.name)
    # The tools' private interpreter: mount points here, bind mounts of the base's in the config.
    py_exe, py_lib = base_python(base_rootfs)
    sim_py = Path(SIM_PYTHON_PREFIX)
    mounts = [(base_rootfs / py_exe, sim_py / "bin" / "python3"),
              (base_rootfs / py_lib, sim_py / "lib" / os.path.basename(py_lib))]
    (upper / mounts[0][1]).parent.mkdir(parents=True, exist_ok=True)
    (upper / mounts[0][1]).touch()
    (upper / mounts[1][1]).mkdir(parents=True, exist_ok=True)
    if not python:
        # A freshly flashed OpenWrt: no python3 anywhere a user or Ansible would look.
        for rel in python_whiteouts(base_rootfs):
            whiteout(upper, rel)
    for rel, (content, mode) in router_files(board, hostname).items():
        p = upper / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
        p.chmod(mode)
    # schnapps, where a Turris has it: on a btrfs root (Omnia, MOX), not on the Turris 1.x.
    if BOARDS[board].get("btrfs_root"):
        (upper / "usr" / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(HERE / "schnapps", upper / "usr" / "bin" / "schnapps")
    # The distribution feed of the board's arch on the bridge, and its key, as opkg-key adds it.
    for rel, text in feed.router_feed_files(feeds, BOARDS[board]["opkg_arch"], WWW_URL).items():
        p = upper / lower_path(base_rootfs, rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    # The image server's CA in the router's trust store (as a real Turris trusts repo.turris.cz);
    # the server itself is in /etc/config/lxc (router_files).
    bundle = upper / "etc" / "ssl" / "certs" / "ca-certificates.crt"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes((base_rootfs / "etc" / "ssl" / "certs" / "ca-certificates.crt").read_bytes()
                       + Path(image_ca).read_bytes())
    ssh = upper / "root" / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    ssh.chmod(0o700)
    (ssh / "authorized_keys").write_text(Path(str(key) + ".pub").read_text())
    (ssh / "authorized_keys").chmod(0o600)
    # The board's kernel config appears where a Turris exposes it: /proc/config.gz.
    cfg = (HERE / "boards" / (board + ".config")).read_bytes()
    with gzip.GzipFile(cdir / "config.gz", "wb", mtime=0) as fh:
        fh.write(cfg)
    conf = [
        "# turris-sim router %s (board %s)" % (name, board),
        "lxc.uts.name = %s" % hostname,
        "lxc.rootfs.path = overlay:%s:%s" % (base_rootfs, upper),
        "lxc.net.0.type = veth",
        "lxc.net.0.link = %s" % BRIDGE,
        "lxc.net.0.flags = up",
        "lxc.net.0.name = eth0",
        "lxc.net.0.veth.pair = tsim%02d" % int(ip.rsplit(".", 1)[1]),
        "lxc.net.0.ipv4.address = %s/24" % ip,
        "lxc.net.0.ipv4.gateway = %s" % BRIDGE_ADDR,
        "lxc.mount.auto = cgroup:mixed proc:mixed sys:mixed",
        "lxc.mount.entry = %s proc/config.gz none bind,ro 0 0" % (cdir / "config.gz"),
        "lxc.mount.entry = tmpfs tmp tmpfs rw,nosuid,nodev,mode=1777 0 0",
    ] + ["lxc.mount.entry = %s %s none bind,ro 0 0" % (src, dest) for src, dest in mounts] + [
        "lxc.apparmor.profile = unconfined",
        "lxc.pty.max = 64",
        "lxc.tty.max = 0",
        "lxc.autodev = 1",
        "lxc.include = /usr/share/lxc/config/nesting.conf",
        "lxc.cgroup.devices.allow = a",
        "lxc.cgroup2.devices.allow = a",
        "lxc.cap.drop =",
        "lxc.init.cmd = /sbin/init",
        "lxc.signal.halt = SIGUSR2",
        "lxc.log.file = %s" % (cdir / "console.log"),
        "lxc.log.level = WARN",
    ]
    (cdir / "config").write_text("\n".join(conf) + "\n")
    state["routers"][name] = {"fleet": name.split("-")[1], "index": index, "board": board, "ip": ip,
                              "hostname": hostname, "base": base_rootfs.parent.name, "python": bool(python),
                              "recipe": router_recipe(board, feeds, image_ca, python)}
    save_state(state)


def start_router(name):
    if not router_running(name):
        lxc("lxc-start", "-n", name)
    router_masquerade(name)


# A Turris's fw4 masquerades what leaves the wan zone (/etc/config/firewall: zone wan, masq '1'), so
# the containers behind a router reach package feeds. The simulated firewall loads no rules: the
# simulator sets that one up from the host (nft) in the router's network namespace, forwarding on.
FW4_MASQUERADE = ("table ip turris_sim_fw4\ndelete table ip turris_sim_fw4\n"
                  "table ip turris_sim_fw4 {\n chain srcnat {\n"
                  "  type nat hook postrouting priority srcnat; policy accept;\n"
                  "  oifname \"eth0\" masquerade\n }\n}\n")


def router_masquerade(name):
    if not shutil.which("nft"):
        raise SimError("nft is not installed: apt-get install nftables (the routers' wan masquerading)")
    pid = lxc("lxc-info", "-n", name, "-p", "-H").stdout.strip()
    run(["nsenter", "--net=/proc/%s/ns/net" % pid, "sh", "-c", "echo 1 >/proc/sys/net/ipv4/ip_forward && nft -f -"],
        input=FW4_MASQUERADE, capture=True)


def wait_ssh(ip, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((ip, 22), timeout=2) as s:
                s.settimeout(3)
                if s.recv(16).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.3)
    raise SimError("router at %s did not answer on SSH within %ds" % (ip, timeout))


def destroy_router(name, state):
    cdir = LXCPATH / name
    if router_exists(name):
        if router_running(name):
            lxc("lxc-stop", "-n", name, "-k", check=False)
        # Overlay work dir and nested mounts may remain: unmount below the container first.
        for line in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            mnt = line.split()[1]
            if mnt.startswith(str(cdir) + "/"):
                run(["umount", "-l", mnt], check=False, capture=True)
    shutil.rmtree(cdir, ignore_errors=True)
    state["routers"].pop(name, None)
    save_state(state)


# --------------------------------------------------------------------------- commands

def fleet_routers(state, fleet):
    return sorted((n for n, r in state["routers"].items() if r["fleet"] == fleet),
                  key=lambda n: state["routers"][n]["index"])


def validate_fleet(fleet):
    if not fleet or not fleet.replace("_", "").isalnum() or len(fleet) > 16:
        raise SimError("invalid fleet name %r: use 1-16 letters, digits or '_'" % fleet)


def parse_no_python(value, count):
    """``--no-python`` (comma-separated router numbers, 1-based; empty for none) -> set of numbers."""
    out = set()
    for item in (value or "").replace(" ", "").split(","):
        if not item:
            continue
        if not item.isdigit() or not 1 <= int(item) <= count:
            raise SimError("invalid --no-python %r: %r is not a router number of this fleet (1 to %d), "
                           "use comma-separated numbers such as 2 or 1,3" % (value, item, count))
        out.add(int(item))
    return out


def check_up_args(args):
    """Bad arguments of ``up`` fail at once, before the lock is waited for; returns --no-python's set."""
    validate_fleet(args.fleet)
    if not 1 <= args.count <= MAX_COUNT:
        raise SimError("invalid --count %d: a fleet has 1 to %d routers" % (args.count, MAX_COUNT))
    if args.board not in list(BOARDS) + ["mixed"]:
        raise SimError("unknown --board %r: choose one of turris1x, omnia, mox, mixed" % args.board)
    return parse_no_python(args.no_python, args.count)


def cmd_up(args):
    no_python = check_up_args(args)
    state = load_state()
    others = sum(1 for r in state["routers"].values() if r["fleet"] != args.fleet)
    if others + args.count > MAX_ROUTERS:
        raise SimError("--count %d would make %d routers in all fleets; the limit is %d"
                       % (args.count, others + args.count, MAX_ROUTERS))
    for tool in ("lxc-start", "debootstrap", "ssh-keygen", "ip"):
        if not shutil.which(tool):
            raise SimError("%s is not installed: run `make hostdeps` (tests/sim/install-host-deps.sh)" % tool)
    base = ensure_base()
    key = ensure_ssh_key()
    ensure_bridge()
    ensure_www()
    try:
        feeds = feed.ensure_feeds(WWW, HOME / "keys", Path(os.environ.get("TSIM_DEB_CACHE", "/var/cache/turris-sim/debs")))
    except feed.FeedError as e:
        raise SimError(str(e))
    state["feeds"] = feeds
    tls = ensure_images()
    state["images"] = {"server": IMAGES_SERVER, "ca": tls["ca"]}
    save_state(state)
    LXCPATH.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for i in range(1, args.count + 1):
        board = MIXED[(i - 1) % 3] if args.board == "mixed" else args.board
        wanted["tsim-%s-%d" % (args.fleet, i)] = (i, board)
    for name in fleet_routers(state, args.fleet):
        if name not in wanted:
            destroy_router(name, state)
    for name, (i, board) in wanted.items():
        cur = state["routers"].get(name)
        python = i not in no_python
        fresh = (cur and cur["board"] == board and cur.get("base") == base.parent.name
                 and cur.get("recipe") == router_recipe(board, feeds, tls["ca"], python) and router_exists(name))
        if not fresh:
            create_router(state, name, board, i, base, key, feeds, tls["ca"], python)
        start_router(name)
    for name in wanted:
        wait_ssh(state["routers"][name]["ip"])
    path = write_inventory(state, args.fleet)
    log("fleet %s: %d router(s) up; inventory: %s" % (args.fleet, len(wanted), path))


def cmd_down(args):
    state = load_state()
    names = fleet_routers(state, args.fleet) if args.fleet else sorted(state["routers"])
    if not args.fleet and LXCPATH.exists():
        names = sorted(set(names) | {p.name for p in LXCPATH.iterdir() if p.name.startswith("tsim-")})
    for name in names:
        destroy_router(name, state)
    if args.fleet:
        inv = HOME / ("inventory-%s.yml" % args.fleet)
        if inv.exists():
            inv.unlink()
    if not state["routers"]:
        stop_services()
        remove_bridge()
        for inv in HOME.glob("inventory-*.yml"):
            inv.unlink()
    log("removed %d router(s)" % len(names))


WWW = HOME / "www"
WWW_PORT = int(os.environ.get("TSIM_WWW_PORT", "80"))
WWW_URL = "http://%s%s" % (BRIDGE_ADDR, "" if WWW_PORT == 80 else ":%d" % WWW_PORT)


def _service_running(name, needle):
    pidfile = HOME / "run" / ("%s.pid" % name)
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        return needle.encode() in Path("/proc/%d/cmdline" % pid).read_bytes()
    except (OSError, ValueError):
        return False


def _start_service(name, argv, port):
    """Start a fleet server in the background (pid and log in $TSIM_HOME/run) and wait until it
    listens on the bridge address."""
    (HOME / "run").mkdir(parents=True, exist_ok=True)
    log_path = HOME / "run" / ("%s.log" % name)
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(argv, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, start_new_session=True)
    (HOME / "run" / ("%s.pid" % name)).write_text("%d\n" % proc.pid)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            socket.create_connection((BRIDGE_ADDR, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SimError("the fleet's %s server did not start on %s:%d (see %s)" % (name, BRIDGE_ADDR, port, log_path))


def ensure_www():
    """One static HTTP server for the fleet's package feeds, bound to the bridge address only:
    nothing listens anywhere else."""
    WWW.mkdir(parents=True, exist_ok=True)
    if not _service_running("www", "http.server"):
        _start_service("www", [sys.executable, "-m", "http.server", str(WWW_PORT), "--bind", BRIDGE_ADDR,
                               "--directory", str(WWW)], WWW_PORT)
    import telephony  # pylint: disable=import-outside-toplevel  (tests/sim/telephony.py)
    try:  # the TurrisOS containers' telephony feed (Asterisk), built once
        telephony.publish(WWW)
    except telephony.TelephonyError as exc:
        raise SimError(str(exc)) from exc


IMAGES_PORT = int(os.environ.get("TSIM_IMAGES_PORT", "8443"))
# What lxc-download's --server takes (host:port/path), as repo.turris.cz/lxc is served under /lxc;
# the routers' /etc/config/lxc points at it. The lowercase (images.linuxcontainers.org) index beside it.
IMAGES_SERVER = "%s:%d/lxc" % (BRIDGE_ADDR, IMAGES_PORT)
IMAGES_SERVER_LOWERCASE = "%s:%d/linuxcontainers" % (BRIDGE_ADDR, IMAGES_PORT)
IMAGES_ROOT = HOME / "images-www"


def ensure_images():
    """The LXC image server of the fleet, in the download template's layout, over HTTPS (the stock
    template fetches nothing else) with a certificate of the simulator's own CA, which every
    router trusts. Two indexes, as two kinds of real server name the images: IMAGES_SERVER
    (repo.turris.cz/lxc: Debian/Bookworm/armv7l, Turris_OS/stable/ppc; the routers' default) and
    IMAGES_SERVER_LOWERCASE (images.linuxcontainers.org: debian/bookworm/armhf). The payload is the
    host's whatever arch an image is listed for."""
    descs = [images.build(r) for r in images.served_recipes()]
    listed = dict((server, images.server_entries(descs, server)) for server in sorted(images.SERVERS))
    tls = images.tls_material([BRIDGE_ADDR])
    # A new certificate (CA made again) needs a new server process too.
    sig = hashlib.sha256(json.dumps(listed, sort_keys=True).encode() + Path(tls["cert"]).read_bytes()).hexdigest()
    sigfile = IMAGES_ROOT / ".sig"
    fresh = sigfile.exists() and sigfile.read_text() == sig
    if not fresh:
        shutil.rmtree(IMAGES_ROOT, ignore_errors=True)
        IMAGES_ROOT.mkdir(parents=True)
        images.make_servers(descs, str(IMAGES_ROOT))
        sigfile.write_text(sig)
    running = _service_running("images", "ImageServer")
    if running and fresh:
        return tls
    if running:
        _stop_service("images")
    code = ("import sys; sys.path.insert(0, %r); import images; "
            "images.ImageServer(%r, %r, %d).httpd.serve_forever()" % (str(HERE), str(IMAGES_ROOT), BRIDGE_ADDR, IMAGES_PORT))
    _start_service("images", [sys.executable, "-c", code], IMAGES_PORT)
    return tls


def _stop_service(name):
    pidfile = HOME / "run" / ("%s.pid" % name)
    try:
        os.kill(int(pidfile.read_text().strip()), 15)
    except (OSError, ValueError):
        pass
    if pidfile.exists():
        pidfile.unlink()


def stop_services():
    """Stop helper processes started for the fleet (HTTP servers for feeds and images)."""
    for pidfile in (HOME / "run").glob("*.pid") if (HOME / "run").exists() else []:
        try:
            os.kill(int(pidfile.read_text().strip()), 15)
        except (ValueError, ProcessLookupError):
            pass
        pidfile.unlink()


def router_list(state, fleet):
    names = fleet_routers(state, fleet) if fleet else sorted(state["routers"])
    out = []
    for n in names:
        r = dict(state["routers"][n])
        r["name"] = n
        r["inventory_name"] = "%s-%d" % (r["fleet"], r["index"])
        r["state"] = "RUNNING" if router_running(n) else "STOPPED"
        out.append(r)
    return out


def cmd_status(args):
    routers = router_list(load_state(), args.fleet)
    if args.json:
        print(json.dumps(routers, indent=2))
        return
    if not routers:
        print("no simulated routers")
        return
    print("%-14s %-10s %-14s %-16s %s" % ("router", "board", "address", "hostname", "state"))
    for r in routers:
        print("%-14s %-10s %-14s %-16s %s" % (r["inventory_name"], r["board"], r["ip"], r["hostname"],
                                              r["state"]))


CONNECTION_VARS = {
    "ansible_user": "root",
    "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
    # dropbear offers no sftp: files go over scp in its legacy protocol (-O), or pipelining.
    "ansible_ssh_transfer_method": "scp",
    "ansible_scp_extra_args": "-O",
    "ansible_pipelining": True,
    "ansible_python_interpreter": "/usr/bin/python3",
}


def inventory_dict(state, fleet):
    """The fleet as an Ansible inventory: group ``turris``, one host per router."""
    hosts = {}
    for name in fleet_routers(state, fleet):
        r = state["routers"][name]
        hosts["%s-%d" % (r["fleet"], r["index"])] = {"ansible_host": r["ip"], "tsim_board": r["board"],
                                                    "tsim_container": name,
                                                    "tsim_python": r.get("python", True)}
    group_vars = dict(CONNECTION_VARS, ansible_ssh_private_key_file=str(HOME / "ssh" / "id_ed25519"))
    if state.get("images"):
        group_vars["tsim_image_server"] = state["images"]["server"]
    docker_feed = (state.get("feeds") or {}).get("docker_feed")
    if docker_feed:
        # The patched Docker's own feed for the Turris 1.x (not in distfeeds: the docker role adds it).
        group_vars["tsim_docker_feed_url"] = "%s/%s" % (WWW_URL, docker_feed["path"])
        try:
            group_vars["tsim_docker_feed_key"] = Path(docker_feed["key"]).read_text()
        except OSError:
            pass
    return {"all": {"children": {"turris": {"hosts": hosts, "vars": group_vars}}}}


def write_inventory(state, fleet):
    # YAML is a superset of JSON: no third-party module needed here.
    path = HOME / ("inventory-%s.yml" % fleet)
    HOME.mkdir(parents=True, exist_ok=True)
    path.write_text("# Written by tests/sim/turris_sim.py for fleet %s.\n%s\n"
                    % (fleet, json.dumps(inventory_dict(state, fleet), indent=2)))
    return path


def cmd_inventory(args):
    validate_fleet(args.fleet)
    state = load_state()
    if not fleet_routers(state, args.fleet):
        raise SimError("fleet %s has no routers: run `make sim-up` first" % args.fleet)
    print(write_inventory(state, args.fleet))


def cmd_reboot(args):
    """Restart routers as a power cycle does: by default cleanly (busybox init gets the halt signal and
    runs the shutdown scripts, /etc/init.d/rcK), with --hard as a power loss (killed). The router then
    boots again through /sbin/init (rcS, the enabled init scripts in /etc/rc.d): /tmp (a tmpfs), every
    mount and process made at run time are gone; the root file system keeps its files."""
    validate_fleet(args.fleet)
    state = load_state()
    names = fleet_routers(state, args.fleet)
    if not names:
        raise SimError("fleet %s has no routers: run `make sim-up` first" % args.fleet)
    if args.router:
        wanted = set(args.router)
        unknown = wanted - {state["routers"][n]["index"] for n in names}
        if unknown:
            raise SimError("fleet %s has no router number %s (it has 1 to %d)"
                           % (args.fleet, ", ".join(str(u) for u in sorted(unknown)), len(names)))
        names = [n for n in names if state["routers"][n]["index"] in wanted]
    for name in names:
        if router_running(name):
            if args.hard:
                lxc("lxc-stop", "-n", name, "-k")
            else:
                lxc("lxc-stop", "-n", name, "-t", "60")
        start_router(name)
    for name in names:
        wait_ssh(state["routers"][name]["ip"])
    log("fleet %s: rebooted %s" % (args.fleet, ", ".join(names)))


def main(argv=None):
    p = argparse.ArgumentParser(prog="turris_sim.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="bring a fleet up (idempotent)")
    up.add_argument("--count", type=int, default=3)
    up.add_argument("--board", default="mixed")
    up.add_argument("--fleet", default="sim")
    up.add_argument("--no-python", default=os.environ.get("TSIM_NO_PYTHON", ""), metavar="N[,N...]",
                    help="routers (numbers from 1) made without python3, like a freshly flashed OpenWrt "
                         "(default: $TSIM_NO_PYTHON, else none)")
    down = sub.add_parser("down", help="remove a fleet, or everything")
    down.add_argument("--fleet")
    st = sub.add_parser("status", help="list routers")
    st.add_argument("--fleet")
    st.add_argument("--json", action="store_true")
    inv = sub.add_parser("inventory", help="print the path of a fleet's Ansible inventory")
    inv.add_argument("--fleet", default="sim")
    rb = sub.add_parser("reboot", help="restart routers (shutdown scripts, then a fresh boot)")
    rb.add_argument("--fleet", default="sim")
    rb.add_argument("--router", type=int, action="append", metavar="N", help="router number (from 1); repeatable; default: all")
    rb.add_argument("--hard", action="store_true", help="as a power loss: no shutdown scripts")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("turris-sim: error: must run as root (it creates LXC containers and a bridge)", file=sys.stderr)
        return 2
    try:
        lock = None
        if args.cmd == "up":
            check_up_args(args)
        if args.cmd in ("up", "down", "reboot"):
            # One up/down at a time: they read, change and write the shared state, addresses and veths.
            HOME.mkdir(parents=True, exist_ok=True)
            lock = open(HOME / "lock", "w")
            fcntl.flock(lock, fcntl.LOCK_EX)
        {"up": cmd_up, "down": cmd_down, "status": cmd_status, "inventory": cmd_inventory,
         "reboot": cmd_reboot}[args.cmd](args)
    except SimError as e:
        print("turris-sim: error: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
