#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's *telephony* opkg feed and the Debian runtime of its TurrisOS-like image.

On Turris OS, Asterisk comes from OpenWrt's ``telephony`` feed: the package ``asterisk`` (the
core, a few built-in modules, /etc/asterisk, /etc/init.d/asterisk, /etc/config/asterisk, user
``asterisk``) and one ``asterisk-<module>`` package per module group (``asterisk-pjsip``,
``asterisk-codec-ulaw``, ...) - openwrt/telephony ``net/asterisk/Makefile``. Turris serves
every feed of a board at ``https://repo.turris.cz/hbs/<board>/packages/<feed>``
(turris-cz/os-build ``lists/repository.lua.m4``); a Turris OS container lists them in
``/etc/opkg/distfeeds.conf``.

Here the binaries are Debian unstable's (``asterisk`` is in sid, not in bookworm), repacked as
signed ``.ipk`` files under the OpenWrt package names (recipe: ``feeds/telephony.json``):

* a *build root*: ``debootstrap --variant=minbase sid`` plus ``python3-minimal``, once, cached
  under ``/var/cache/turris-sim/telephony`` and never refreshed (its key is its declaration);
  ``apt-get install --download-only asterisk`` in it leaves the .debs of Asterisk's closure
  next to the ones debootstrap fetched;
* the TurrisOS-like image (``images.recipe_turrisos``) takes its C library and a private Python
  (for the simulated opkg, out of the PATH) from that root - :func:`runtime_tree`;
* the feed: each OpenWrt package carries the files its Makefile installs (module ``.so``
  files, configuration), taken from the Debian packages; a Debian library becomes a package of
  its own (Debian's name) when an ELF file of the feed needs its soname and the image does not
  carry it. Dependencies come from the ELF files' ``DT_NEEDED`` entries, not from Debian's
  control files (which name maintainer-script tools a TurrisOS container has no use for).

Command line::

    telephony.py build [--www DIR]    build (or reuse) the feed; with --www publish it there
"""
import argparse
import fcntl
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("TURRIS_SIM_TELEPHONY_CACHE", "/var/cache/turris-sim/telephony")
MIRROR = os.environ.get("TURRIS_SIM_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "sid"
ROOT_INCLUDE = ["python3-minimal", "libpython3-stdlib"]
ROOT_VERSION = "1"  # bump when ensure_root changes what it makes
# What the container's distfeeds call the feed, and where it is served on the bridge.
FEED_NAME = "turrisos_telephony"
# The payload is the host's: the feed's packages are honest about it (see arch()).
RECIPE = os.path.join(HERE, "feeds", "telephony.json")


class TelephonyError(Exception):
    """A build problem the user can act on."""


def _log(msg):
    print("telephony: " + msg, file=sys.stderr, flush=True)


def _ensure(path):
    os.makedirs(path, exist_ok=True)
    return path


# --------------------------------------------------------------------------- the build root

def root_key():
    """The build root's identity: what it is declared from (it is not refreshed from the mirror)."""
    blob = json.dumps([SUITE, MIRROR, sorted(ROOT_INCLUDE), ROOT_VERSION], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def root_dir(cache=CACHE):
    return os.path.join(cache, "root-%s" % root_key())


def ensure_root(cache=CACHE):
    """debootstrap sid minbase (+ python3-minimal) and download Asterisk's closure into it,
    once; returns the root directory (its ``rootfs`` holds the system, ``archives`` the .debs)."""
    final = root_dir(cache)
    if os.path.isfile(os.path.join(final, "root.json")):
        return final
    _ensure(cache)
    with open(final + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(os.path.join(final, "root.json")):
            return final
        start = time.time()
        shutil.rmtree(final, ignore_errors=True)
        rootfs = os.path.join(final, "rootfs")
        os.makedirs(rootfs)
        _log("debootstrap %s minbase into %s (once)" % (SUITE, rootfs))
        cmd = ["debootstrap", "--variant=minbase", "--include=" + ",".join(ROOT_INCLUDE), SUITE, rootfs, MIRROR]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise TelephonyError("debootstrap failed (%d): %s" % (res.returncode, res.stderr[-2000:]))
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
        res = subprocess.run(["chroot", rootfs, "apt-get", "-q", "-y", "-o", "APT::Sandbox::User=root",
                              "install", "--download-only", "--no-install-recommends", "asterisk"],
                             capture_output=True, text=True, env=env, check=False)
        if res.returncode != 0:
            raise TelephonyError("apt-get --download-only asterisk failed (%d): %s"
                                 % (res.returncode, (res.stderr or res.stdout)[-2000:]))
        archives = os.path.join(rootfs, "var/cache/apt/archives")
        debs = sorted(f for f in os.listdir(archives) if f.endswith(".deb"))
        os.rename(archives, os.path.join(final, "archives"))
        os.makedirs(archives)
        with open(os.path.join(final, "root.json"), "w", encoding="utf-8") as f:
            json.dump({"suite": SUITE, "mirror": MIRROR, "include": ROOT_INCLUDE,
                       "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "seconds": round(time.time() - start, 1), "debs": debs}, f, indent=1)
        _log("build root ready in %.0f s (%d .debs)" % (time.time() - start, len(debs)))
        return final


# --------------------------------------------------------------------------- ELF

def elf_needed(data):
    """(soname or None, [DT_NEEDED names]) of an ELF file's bytes; None when not ELF.
    Enough of the ELF format for shared objects and executables of either width/endianness."""
    if len(data) < 52 or data[:4] != b"\x7fELF":
        return None
    is64, little = data[4] == 2, data[5] == 1
    e = "<" if little else ">"
    try:
        if is64:
            phoff, = struct.unpack_from(e + "Q", data, 32)
            phentsize, phnum = struct.unpack_from(e + "HH", data, 54)
        else:
            phoff, = struct.unpack_from(e + "I", data, 28)
            phentsize, phnum = struct.unpack_from(e + "HH", data, 42)
        loads, dynamic = [], None
        for i in range(phnum):
            off = phoff + i * phentsize
            if is64:
                p_type, _flags, p_offset, p_vaddr, _pa, p_filesz = struct.unpack_from(e + "IIQQQQ", data, off)
            else:
                p_type, p_offset, p_vaddr, _pa, p_filesz = struct.unpack_from(e + "IIIII", data, off)
            if p_type == 1:  # PT_LOAD
                loads.append((p_vaddr, p_offset, p_filesz))
            elif p_type == 2:  # PT_DYNAMIC
                dynamic = (p_offset, p_filesz)
        if dynamic is None:
            return (None, [])
        entries, strtab, size = [], None, 16 if is64 else 8
        for off in range(dynamic[0], dynamic[0] + dynamic[1], size):
            tag, val = struct.unpack_from(e + ("qQ" if is64 else "iI"), data, off)
            if tag == 0:
                break
            if tag == 5:  # DT_STRTAB (an address: map it through the loads)
                strtab = next((o + val - v for v, o, s in loads if v <= val < v + s), None)
            entries.append((tag, val))
    except struct.error:
        return None
    if strtab is None:
        return (None, [])

    def string(at):
        end = data.index(b"\0", strtab + at)
        return data[strtab + at:end].decode("ascii", "replace")
    needed = [string(v) for t, v in entries if t == 1]
    soname = next((string(v) for t, v in entries if t == 14), None)
    return (soname, needed)


# --------------------------------------------------------------------------- Debian packages

def _deb_fields(path):
    out = subprocess.run(["dpkg-deb", "-f", path], check=True, capture_output=True, text=True).stdout
    fields, last = {}, None
    for line in out.splitlines():
        if line[:1] in (" ", "\t") and last:
            fields[last] += "\n" + line
        elif ":" in line:
            last, value = line.split(":", 1)
            fields[last] = value.strip()
    return fields


def unpack_debs(root, cache=CACHE):
    """{debian package name: (fields, unpacked tree)} of every .deb of the build root."""
    xdir = _ensure(os.path.join(cache, "x"))
    out = {}
    archives = os.path.join(root, "archives")
    for fn in sorted(os.listdir(archives)):
        if not fn.endswith(".deb"):
            continue
        path = os.path.join(archives, fn)
        tree = os.path.join(xdir, fn[:-4])
        if not os.path.exists(os.path.join(tree, ".done")):
            shutil.rmtree(tree, ignore_errors=True)
            os.makedirs(tree)
            subprocess.run(["dpkg-deb", "-x", path, tree], check=True)
            with open(os.path.join(tree, ".done"), "w", encoding="utf-8"):
                pass
        fields = _deb_fields(path)
        out[fields["Package"]] = (fields, tree)
    return out


def _walk(tree):
    """Relative paths of the regular files and symlinks of ``tree`` (sorted)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            rel = os.path.relpath(os.path.join(dirpath, name), tree)
            if rel != ".done":
                found.append(rel)
    return found


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def soname_index(debs):
    """{file name of a shared object: debian package}: what satisfies a DT_NEEDED entry."""
    index = {}
    for name, (_fields, tree) in sorted(debs.items()):
        for rel in _walk(tree):
            base = os.path.basename(rel)
            if ".so" in base and "/" in rel and os.path.dirname(rel) in LIB_DIRS:
                index.setdefault(base, name)
    return index


LIB_DIRS = ("usr/lib/x86_64-linux-gnu", "usr/lib/aarch64-linux-gnu", "usr/lib/arm-linux-gnueabihf",
            "usr/lib", "lib/x86_64-linux-gnu", "lib", "usr/lib64", "lib64")


# --------------------------------------------------------------------------- the feed

BUILD_FORMAT = "1"  # bump when the code below changes what it writes


def load_recipe(path=RECIPE):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def recipe_digest():
    """Hash of the recipe and of the files it lays over the payloads."""
    h = hashlib.sha256(BUILD_FORMAT.encode())
    top = os.path.join(HERE, "feeds")
    paths = [RECIPE, os.path.abspath(__file__)] + [os.path.join(d, f) for d, _s, fs in os.walk(os.path.join(top, "telephony")) for f in fs]
    for p in sorted(paths):
        h.update(os.path.relpath(p, top).encode() + b"\0")
        h.update(b"%o\0" % (os.lstat(p).st_mode & 0o777))
        h.update(_read(p) + b"\0")
    return h.hexdigest()


def arch():
    """The feed's opkg architecture: the payload's real one (the host's CPU), as OpenWrt names it."""
    return {"x86_64": "x86_64", "aarch64": "aarch64_generic", "armv7l": "arm_cortex-a9_vfpv3-d16"}.get(
        os.uname().machine, os.uname().machine)


def feed_path():
    """Where the feed lives under the www root, as Turris lays its repository out
    (``hbs/<board>/packages/<feed>``); the "board" is the container payload's architecture."""
    return "hbs/lxc-%s/packages/telephony" % arch()


def feed_url():
    """The feed's URL on the simulator's bridge (the same settings as turris_sim.py's www server)."""
    net = os.environ.get("TSIM_NET", "10.213.64")
    port = int(os.environ.get("TSIM_WWW_PORT", "80"))
    return "http://%s.1%s/%s" % (net, "" if port == 80 else ":%d" % port, feed_path())


def ensure_key(cache=CACHE):
    """The feed's usign key pair (made once): (secret path, public key text)."""
    import feed  # pylint: disable=import-outside-toplevel
    keys = _ensure(os.path.join(cache, "keys"))
    sec, pub = os.path.join(keys, "telephony.sec"), os.path.join(keys, "telephony.pub")
    with open(os.path.join(keys, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (os.path.exists(sec) and os.path.exists(pub)):
            feed.keygen(sec + ".new", pub + ".new", "turris-sim telephony feed")
            os.rename(pub + ".new", pub)
            os.rename(sec + ".new", sec)
    with open(pub, encoding="utf-8") as f:
        return sec, f.read()


def _module_dir(debs):
    for _fields, tree in debs.values():
        for rel in _walk(tree):
            if rel.endswith("/asterisk/modules/app_dial.so"):
                return os.path.dirname(rel)
    raise TelephonyError("no Asterisk module directory (app_dial.so) in the Debian packages")


def _matches(rel, prefixes):
    return any(rel == p or rel.startswith(p + "/") for p in prefixes)


def plan(recipe, debs, base_sonames):
    """What the feed holds: {package name: {"items": {rel: (deb, rel in deb) | ("files", path)},
    "depends": [...], "version": ..., ...}} for the recipe's packages and every library they need."""
    moddir = _module_dir(debs)
    ast = {name: debs[name] for name in recipe["debs"]}
    version = ast["asterisk"][0]["Version"].split(":", 1)[-1]
    packages, owner = {}, {}
    for name, spec in sorted(recipe["packages"].items()):
        items = {}

        def take(rel, what, name=name, items=items):
            for deb, (_f, tree) in sorted(ast.items()):
                if os.path.lexists(os.path.join(tree, rel)):
                    items[rel] = (deb, rel)
                    return
            raise TelephonyError("package %s: %s (%s) is in none of %s" % (name, rel, what, ", ".join(sorted(ast))))
        for m in spec.get("modules", ()):
            take("%s/%s.so" % (moddir, m), "module")
        for c in spec.get("conffiles", ()):
            take("etc/asterisk/" + c, "configuration")
        for b in spec.get("sbin", ()):
            take("usr/sbin/" + b, "program")
        for top in spec.get("paths", ()):
            hits = [(deb, rel) for deb, (_f, tree) in sorted(ast.items()) for rel in _walk(tree) if _matches(rel, [top])]
            if not hits:
                raise TelephonyError("package %s: nothing under %s in %s" % (name, top, ", ".join(sorted(ast))))
            items.update((rel, (deb, rel)) for deb, rel in hits)
        for lib in spec.get("libraries", ()):
            hits = [(deb, rel) for deb, (_f, tree) in sorted(ast.items()) for rel in _walk(tree)
                    if os.path.basename(rel).startswith(lib) and os.path.dirname(rel) in LIB_DIRS]
            for deb, rel in hits:
                items[rel] = (deb, rel)
        if spec.get("files"):
            top = os.path.join(HERE, "feeds", "telephony", "files", name)
            for rel in _walk(top):
                items[rel] = ("files", os.path.join(top, rel))
        for rel in items:
            if rel in owner:
                raise TelephonyError("%s is in both %s and %s" % (rel, owner[rel], name))
            owner[rel] = name
        # every module package needs the core, as OpenWrt's BuildAsteriskModule declares it
        depends = ([] if name == "asterisk" else ["asterisk"]) + list(spec.get("depends", ()))
        packages[name] = {"items": items, "depends": depends, "version": version, "description": spec.get("description", name),
                          "conffiles": ["/etc/asterisk/" + c for c in spec.get("conffiles", ())]
                          + list(spec.get("extra_conffiles", ())), "user": spec.get("user"), "source": "asterisk"}
    index = soname_index(debs)
    provided = {}  # soname -> package of the feed that carries it
    for name, p in packages.items():
        for rel in p["items"]:
            provided.setdefault(os.path.basename(rel), name)
    todo = sorted(packages)
    while todo:
        name = todo.pop(0)
        p = packages[name]
        needs = set()
        for rel, (deb, src) in sorted(p["items"].items()):
            path = src if deb == "files" else os.path.join(debs[deb][1], src)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            info = elf_needed(_read(path))
            if info:
                needs.update(info[1])
        deps = list(p["depends"])
        for so in sorted(needs):
            if so in base_sonames:
                continue
            carrier = provided.get(so)
            if carrier is None:
                deb = index.get(so)
                if deb is None:
                    raise TelephonyError("%s needs %s, which no Debian package of the build root ships" % (name, so))
                carrier = deb
                if deb not in packages:
                    fields, tree = debs[deb]
                    items = {rel: (deb, rel) for rel in _walk(tree) if not _matches(rel, recipe["exclude"])}
                    packages[deb] = {"items": items, "depends": [], "description": "%s (Debian %s)" % (
                        deb, fields["Version"]), "version": fields["Version"].split(":", 1)[-1],
                        "conffiles": [], "user": None, "source": deb, "section": "libs"}
                    for rel in items:
                        provided.setdefault(os.path.basename(rel), deb)
                    todo.append(deb)
            if carrier != name and carrier not in deps:
                deps.append(carrier)
        p["depends"] = deps
    return packages


def _user_postinst(user):
    """Create the package's user and group as OpenWrt's USERID does (lines in /etc/passwd, /etc/group,
    /etc/shadow; busybox has no adduser here), then enable and start its services as OpenWrt's
    default_postinst does (a service that is not enabled in its UCI file declines to start)."""
    n, uid, gid = user["name"], user["uid"], user["gid"]
    return ("#!/bin/sh\n"
            "[ -n \"$IPKG_INSTROOT\" ] && exit 0\n"
            "grep -q '^{n}:' /etc/group || echo '{n}:x:{g}:' >>/etc/group\n"
            "grep -q '^{n}:' /etc/passwd || echo '{n}:x:{u}:{g}:{n}:/var/run/{n}:/bin/false' >>/etc/passwd\n"
            "grep -q '^{n}:' /etc/shadow || echo '{n}:x:0:0:99999:7:::' >>/etc/shadow\n"
            "for i in $(grep -s '^/etc/init.d/' /usr/lib/opkg/info/{n}.list); do\n"
            "\t\"$i\" enable\n\t\"$i\" start\ndone\n"
            "exit 0\n").format(n=n, u=uid, g=gid)


def build_feed(out_dir, root, recipe, secret_key_path, cache=CACHE):
    """Write every package of :func:`plan` as an .ipk into ``out_dir`` and a signed index."""
    import feed  # pylint: disable=import-outside-toplevel
    import opkg_sim  # pylint: disable=import-outside-toplevel
    debs = unpack_debs(root, cache)
    base = image_sonames(root, recipe["image_base"])
    packages = plan(recipe, debs, base)
    os.makedirs(out_dir)
    a = arch()
    stanzas = []
    for name, p in sorted(packages.items()):
        items = {}
        for rel, (deb, src) in p["items"].items():
            data, mode, link = feed._item(src if deb == "files" else os.path.join(debs[deb][1], src))  # pylint: disable=protected-access
            if rel.startswith("etc/asterisk/") and link is None:
                # Debian keeps them 0640 root:asterisk (chgrp in a maintainer script); OpenWrt installs
                # its configuration 0644 root:root (INSTALL_DATA): Asterisk, run as asterisk, reads it
                mode = 0o644
            items["./" + rel] = (data, mode, link)
        entries = feed._entries(items)  # pylint: disable=protected-access
        size = sum(len(d) for _n, d, _m, _l in entries if d is not None)
        control = {"Package": name, "Version": p["version"], "Depends": ", ".join(sorted(p["depends"])),
                   "Source": "tests/sim/feeds/telephony.json", "SourceName": p["source"],
                   "License": "see the Debian package %s" % p["source"],
                   "Section": p.get("section", "net"), "Maintainer": "turris.containers simulator",
                   "Architecture": a, "Description": p["description"]}
        scripts = {"postinst": _user_postinst(p["user"])} if p["user"] else None
        path, control_text = feed._write_ipk(out_dir, control, feed._tar_gz(entries, level=6), size,  # pylint: disable=protected-access
                                             scripts, p["conffiles"], outer_level=1)
        fields = opkg_sim.parse_stanzas(control_text)[0]
        blob = _read(path)
        fields.update({"Filename": os.path.basename(path), "Size": str(len(blob)),
                       "SHA256sum": hashlib.sha256(blob).hexdigest()})
        stanzas.append(opkg_sim.format_stanza(fields, feed.INDEX_ORDER))
    text = ("\n".join(stanzas) + ("\n" if stanzas else "")).encode()
    feed._write_index_files(out_dir, text, secret_key_path)  # pylint: disable=protected-access
    return packages


def ensure_feed(cache=CACHE):
    """Build (or reuse) the feed; returns its directory. Keyed by the build root, the recipe and
    the key: nothing is rebuilt while they stay the same."""
    root = ensure_root(cache)
    sec, pub = ensure_key(cache)
    key = hashlib.sha256(json.dumps([root_key(), recipe_digest(), pub]).encode()).hexdigest()[:16]
    final = os.path.join(cache, "feed-%s" % key)
    if os.path.isfile(os.path.join(final, "Packages.sig")):
        return final
    with open(final + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(os.path.join(final, "Packages.sig")):
            return final
        start = time.time()
        tmp = final + ".new-%d" % os.getpid()
        shutil.rmtree(tmp, ignore_errors=True)
        packages = build_feed(tmp, root, load_recipe(), sec, cache)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
        _log("built the telephony feed: %d packages in %.0f s" % (len(packages), time.time() - start))
        return final


def publish(www_dir, cache=CACHE):
    """Build (or reuse) the feed and make ``www_dir``/:func:`feed_path` point at it."""
    src = ensure_feed(cache)
    link = os.path.join(str(www_dir), feed_path())
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.islink(link) and os.readlink(link) == src:
        return link
    tmp = link + ".new"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(src, tmp)
    os.replace(tmp, link)
    return link


# --------------------------------------------------------------------------- the image's runtime

# Where the TurrisOS-like image keeps the simulator's own Python (for opkg and uci): not on PATH,
# not where a package of the feed could put a file.
PYTHON_HOME = "usr/lib/turris-sim/python"
RUNTIME_EXCLUDE = ("usr/share", "usr/lib/x86_64-linux-gnu/gconv", "usr/lib/aarch64-linux-gnu/gconv",
                   "usr/lib/arm-linux-gnueabihf/gconv", "etc", "usr/bin", "usr/sbin", "sbin", "bin",
                   "usr/libexec")
# Python's standard library without what the simulator's tools never import.
PYTHON_EXCLUDE = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
                  "unittest", "venv", "config-", "distutils", "__pycache__")


def _dpkg_list(rootfs, pkg):
    info = os.path.join(rootfs, "var/lib/dpkg/info")
    for name in (pkg + ".list", pkg + ":%s.list" % _dpkg_arch(rootfs)):
        path = os.path.join(info, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return [line.strip().lstrip("/") for line in f if line.strip() not in ("", "/.")]
    raise TelephonyError("%s is not installed in the build root %s" % (pkg, rootfs))


def _dpkg_arch(rootfs):
    return subprocess.run(["chroot", rootfs, "dpkg", "--print-architecture"], check=True, capture_output=True,
                          text=True).stdout.strip()


def _canonical(rootfs, rel):
    """``rel`` with its directories resolved through the root's symlinks (merged /usr: lib -> usr/lib)."""
    head, tail = os.path.split(rel)
    real = os.path.realpath(os.path.join(rootfs, head))
    return os.path.join(os.path.relpath(real, rootfs), tail)


def python_version(rootfs):
    found = sorted(f for f in os.listdir(os.path.join(rootfs, "usr/bin"))
                   if f.startswith("python3.") and f[8:].isdigit())
    if not found:
        raise TelephonyError("no python3.X in the build root")
    return found[-1][6:]


def image_sonames(root, base_packages):
    """File names of the shared objects the image carries (satisfy DT_NEEDED without a package)."""
    rootfs = os.path.join(root, "rootfs")
    out = set()
    for pkg in base_packages:
        out.update(os.path.basename(rel) for rel in _dpkg_list(rootfs, pkg) if ".so" in os.path.basename(rel))
    return out


def runtime_tree(dest, base_packages, cache=CACHE):
    """Copy into the image root ``dest``: the C library (and the other ``base_packages``) at their
    Debian paths, and Python (interpreter + standard library) under :data:`PYTHON_HOME`.
    Returns the Python version (``3.X``)."""
    root = ensure_root(cache)
    rootfs = os.path.join(root, "rootfs")
    ver = python_version(rootfs)
    copies = {}
    for pkg in base_packages:
        for rel in _dpkg_list(rootfs, pkg):
            full = os.path.join(rootfs, rel)
            if (os.path.isdir(full) and not os.path.islink(full)) or not os.path.lexists(full):
                continue
            canon = _canonical(rootfs, rel)
            if not _matches(canon, RUNTIME_EXCLUDE):
                copies[canon] = os.path.join(rootfs, canon)
    stdlib = "usr/lib/python" + ver
    for pkg in ("libpython%s-minimal" % ver, "libpython%s-stdlib" % ver, "python%s-minimal" % ver):
        try:
            listed = _dpkg_list(rootfs, pkg)
        except TelephonyError:
            continue
        for rel in listed:
            full = os.path.join(rootfs, rel)
            if (os.path.isdir(full) and not os.path.islink(full)) or not os.path.lexists(full):
                continue
            if rel == "usr/bin/python" + ver:
                copies[PYTHON_HOME + "/bin/python3"] = full
            elif rel.startswith(stdlib + "/"):
                sub = rel[len(stdlib) + 1:]
                if not any(part.startswith(PYTHON_EXCLUDE) for part in sub.split("/")):
                    copies["%s/lib/python%s/%s" % (PYTHON_HOME, ver, sub)] = full
    for rel, src in sorted(copies.items()):
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.lexists(out):
            os.unlink(out)
        if os.path.islink(src):
            os.symlink(os.readlink(src), out)
        else:
            shutil.copy2(src, out)
    # the loader's paths: /lib64/ld-linux-*.so.2 and /lib/<triplet> as on Debian (merged /usr)
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64")):
        path = os.path.join(dest, link)
        if not os.path.lexists(path) and os.path.isdir(os.path.join(dest, target)):
            os.symlink(target, path)
    return ver


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or reuse) the feed; print its directory")
    b.add_argument("--www", help="publish it under this document root")
    args = parser.parse_args(argv)
    sys.path.insert(0, HERE)
    try:
        print(publish(args.www) if args.www else ensure_feed())
    except TelephonyError as exc:
        print("telephony: error: %s" % exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
