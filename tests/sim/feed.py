#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test opkg feeds for the router simulator: .ipk files in OpenWrt's layout and a signed index.

Library (used by the unit tests and the simulator build):
  build_ipk(out_dir, control, files=..., scripts=..., conffiles=...) -> path of NAME_VERSION_ARCH.ipk
  write_index(feed_dir, secret_key_path)  -> Packages, Packages.gz, Packages.sig (usign)
  serve(directory)                        -> (server, base_url) on 127.0.0.1, in a thread
  ensure_feeds(www_dir, key_dir, cache_dir) -> the fleet's feeds (Debian bookworm packages repacked
      under OpenWrt names, recipe in tests/sim/feeds/), built once and cached; see its docstring

Command line:
  feed.py keygen --secret KEY.sec --public KEY.pub [--comment TEXT]
  feed.py index  --dir FEED_DIR --key KEY.sec
  feed.py serve  --dir FEED_DIR [--host 127.0.0.1] [--port 8080]
  feed.py build  --www DIR --keys DIR [--cache /var/cache/turris-sim/debs]   (prints ensure_feeds' JSON)
"""
import argparse
import fcntl
import fnmatch
import functools
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_LIB = os.path.join(HERE, "rootfs", "usr", "lib", "turris-sim")
if SIM_LIB not in sys.path:
    sys.path.insert(0, SIM_LIB)

import usign_sim  # noqa: E402  pylint: disable=wrong-import-position
import opkg_sim  # noqa: E402  pylint: disable=wrong-import-position

# Fixed timestamp so that rebuilding a package gives the same bytes (and the same SHA256).
MTIME = 1700000000
CONTROL_ORDER = ("Package", "Version", "Depends", "Provides", "Conflicts", "Source", "SourceName",
                 "License", "Section", "SourceDateEpoch", "Maintainer", "Architecture",
                 "Installed-Size", "Description")
INDEX_ORDER = ("Package", "Version", "Depends", "Provides", "Conflicts", "Source", "SourceName",
               "License", "Section", "SourceDateEpoch", "Maintainer", "Architecture",
               "Installed-Size", "Filename", "Size", "SHA256sum", "Description")


def _tar_gz(entries, level=9):
    """gzip'd tar of entries [(name, bytes or None for a dir, mode, symlink target or None)]."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data, mode, link in entries:
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = mode
            if link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tar.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=MTIME, compresslevel=level) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _data_entries(files, tree=None):
    """Tar entries for the payload: ``files`` {"/usr/bin/x": bytes | (bytes, mode) | ("->", target)},
    ``tree`` a staging directory copied as is."""
    entries = {"./": (None, 0o755, None)}

    def add_dirs(path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            entries.setdefault("./" + "/".join(parts[:i]) + "/", (None, 0o755, None))

    for path, spec in sorted((files or {}).items()):
        add_dirs(path)
        if isinstance(spec, tuple) and spec and spec[0] == "->":
            entries["./" + path.strip("/")] = (None, 0o777, spec[1])
        elif isinstance(spec, tuple):
            entries["./" + path.strip("/")] = (spec[0], spec[1], None)
        else:
            entries["./" + path.strip("/")] = (spec, 0o644, None)
    if tree:
        for dirpath, dirnames, filenames in os.walk(tree):
            dirnames.sort()
            rel = os.path.relpath(dirpath, tree)
            for d in dirnames:
                full = os.path.join(dirpath, d)
                name = "./" + os.path.normpath(os.path.join(rel, d)) + "/"
                if os.path.islink(full):
                    entries[name.rstrip("/")] = (None, 0o777, os.readlink(full))
                else:
                    entries[name] = (None, os.stat(full).st_mode & 0o7777, None)
            for f in sorted(filenames):
                full = os.path.join(dirpath, f)
                name = "./" + os.path.normpath(os.path.join(rel, f))
                if os.path.islink(full):
                    entries[name] = (None, 0o777, os.readlink(full))
                else:
                    with open(full, "rb") as fh:
                        entries[name] = (fh.read(), os.stat(full).st_mode & 0o7777, None)
    return [(name, data, mode, link) for name, (data, mode, link) in sorted(entries.items())]


def build_ipk(out_dir, control, files=None, scripts=None, conffiles=(), tree=None):
    """Write NAME_VERSION_ARCH.ipk as OpenWrt's scripts/ipkg-build does and return its path.

    ``control``: dict of control fields (Package, Version, Architecture required).
    ``scripts``: {"postinst": "#!/bin/sh\\n...", "prerm": ...}.
    """
    data_entries = _data_entries(files, tree)
    installed_size = sum(len(d) for _n, d, _m, _l in data_entries if d is not None)
    return _write_ipk(out_dir, control, _tar_gz(data_entries), installed_size, scripts, conffiles)[0]


def _write_ipk(out_dir, control, data_tgz, installed_size, scripts=None, conffiles=(), outer_level=9):
    """The .ipk of an already compressed payload: (path, control text)."""
    for field in ("Package", "Version", "Architecture"):
        if not control.get(field):
            raise ValueError("control field %s is required" % field)
    fields = dict(control)
    fields.setdefault("Installed-Size", str(installed_size))
    fields.setdefault("Description", fields["Package"])
    control_text = opkg_sim.format_stanza(
        dict((k, v) for k, v in fields.items() if v), CONTROL_ORDER)
    ctl = [("./", None, 0o755, None), ("./control", control_text.encode(), 0o644, None)]
    if conffiles:
        ctl.append(("./conffiles", "".join(c + "\n" for c in conffiles).encode(), 0o644, None))
    for name, text in sorted((scripts or {}).items()):
        ctl.append(("./" + name, text.encode(), 0o755, None))
    outer = _tar_gz([
        ("./debian-binary", b"2.0\n", 0o644, None),
        ("./data.tar.gz", data_tgz, 0o644, None),
        ("./control.tar.gz", _tar_gz(ctl), 0o644, None),
    ], level=outer_level)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "%s_%s_%s.ipk" % (fields["Package"], fields["Version"], fields["Architecture"]))
    with open(path, "wb") as f:
        f.write(outer)
    return path, control_text


def index_text(feed_dir):
    """The Packages index of every .ipk in ``feed_dir`` (OpenWrt's ipkg-make-index)."""
    stanzas = []
    for fname in sorted(os.listdir(feed_dir)):
        if not fname.endswith(".ipk"):
            continue
        with open(os.path.join(feed_dir, fname), "rb") as f:
            data = f.read()
        control, _payload = opkg_sim.open_ipk(data)
        fields = opkg_sim.parse_stanzas(opkg_sim._member_text(control, "control"))[0]  # pylint: disable=protected-access
        fields["Filename"] = fname
        fields["Size"] = str(len(data))
        fields["SHA256sum"] = hashlib.sha256(data).hexdigest()
        stanzas.append(opkg_sim.format_stanza(fields, INDEX_ORDER))
    return "\n".join(stanzas) + ("\n" if stanzas else "")


def write_index(feed_dir, secret_key_path=None):
    """Write Packages, Packages.gz and (with a key) Packages.sig in ``feed_dir``."""
    text = index_text(feed_dir).encode()
    _write_index_files(feed_dir, text, secret_key_path)
    return text


# --------------------------------------------------------------------------- the fleet's feeds

FEEDS_RECIPE_DIR = os.path.join(HERE, "feeds")
ARCHES = ("powerpc_8548", "arm_cortex-a9_vfpv3-d16", "aarch64_cortex-a53")
DOCKER_FEED_ARCH = "powerpc_8548"  # Turris 1.x: no Docker in the distribution, a feed of its own
DIST_FEED = "turris_packages"
BUILD_FORMAT = "1"  # bump when the code below changes what it writes
MARKER_VERSION = "1.0-1"
STAMP = ".recipe.json"
TELEPHONY_RECIPE = "telephony"  # feeds/telephony.json, feeds/telephony/: not this module's


class FeedError(Exception):
    """A feed build problem the user can act on."""


def _log(msg):
    print("feed: " + msg, file=sys.stderr, flush=True)


def load_recipe():
    with open(os.path.join(FEEDS_RECIPE_DIR, "packages.json"), encoding="utf-8") as f:
        recipe = json.load(f)
    with open(os.path.join(FEEDS_RECIPE_DIR, "base-packages.txt"), encoding="utf-8") as f:
        recipe["base"] = sorted(line.strip() for line in f if line.strip() and not line.startswith("#"))
    return recipe


def recipe_digest():
    """Hash of every recipe file (and of the build format): what the built feeds depend on, with
    the Debian versions."""
    h = hashlib.sha256(BUILD_FORMAT.encode())
    for dirpath, dirnames, filenames in os.walk(FEEDS_RECIPE_DIR):
        dirnames.sort()
        for fn in sorted(filenames):
            full = os.path.join(dirpath, fn)
            if os.path.relpath(full, FEEDS_RECIPE_DIR).startswith(TELEPHONY_RECIPE):
                continue  # the telephony feed's own recipe (tests/sim/telephony.py)
            h.update(os.path.relpath(full, FEEDS_RECIPE_DIR).encode() + b"\0")
            h.update(b"%o\0" % (os.lstat(full).st_mode & 0o777))
            if os.path.islink(full):
                h.update(os.readlink(full).encode())
            else:
                with open(full, "rb") as fh:
                    h.update(fh.read())
            h.update(b"\0")
    return h.hexdigest()


def _apt_show(names):
    """{name: candidate stanza} from the host's apt lists; unknown names are left out."""
    names = sorted(set(names))
    if not names:
        return {}
    try:
        res = subprocess.run(["apt-cache", "show", "--no-all-versions"] + names, capture_output=True, text=True,
                             check=False)
    except OSError:  # no apt on this host
        return {}
    if res.returncode != 0 and len(names) > 1:
        out = {}
        for n in names:
            out.update(_apt_show([n]))
        return out
    if res.returncode != 0:
        return {}
    out = {}
    for st in opkg_sim.parse_stanzas(res.stdout):
        if "Package" in st and st["Package"] in names and st["Package"] not in out:
            out[st["Package"]] = st
    return out


def _dep_groups(stanza):
    groups = []
    for field in ("Pre-Depends", "Depends"):
        for group in opkg_sim.parse_depends(stanza.get(field, "")):
            groups.append([alt[0].split(":")[0] for alt in group])
    return groups


def resolve(recipe):
    """The package set: explicit recipe packages plus one package per Debian library the base
    lacks. Returns (packages [dict], debs {deb: apt stanza})."""
    base = set(recipe["base"])
    ignore = set(recipe.get("ignore_debian", ()))
    packages = [dict(p) for p in recipe["packages"]]
    names = [p["name"] for p in packages]
    if len(set(names)) != len(names):
        raise FeedError("duplicate package names in packages.json")
    carried = {}
    for p in packages:
        for deb in p.get("debs", ()):
            carried.setdefault(deb, p["name"])
    wanted = sorted(carried)
    debs = _apt_show(wanted)
    missing = [d for d in wanted if d not in debs]
    if missing:
        raise FeedError("Debian packages %s unknown to apt on this host: run `apt-get update` "
                        "(bookworm main in the sources)" % ", ".join(missing))
    deb_deps = {}  # deb -> set of package names it needs
    todo = list(wanted)
    while todo:
        new = []
        for deb in todo:
            needs = set()
            for group in _dep_groups(debs[deb]):
                if any(n in base or n in ignore for n in group):
                    continue
                hit = next((carried[n] for n in group if n in carried), None)
                if hit is None:
                    found = _apt_show(group)
                    choice = next((n for n in group if n in found), None)
                    if choice is None:
                        raise FeedError("%s needs %s: not in the base, not in the recipe, unknown to apt"
                                        % (deb, " | ".join(group)))
                    debs[choice] = found[choice]
                    carried[choice] = choice
                    packages.append({"name": choice, "debs": [choice], "section": "libs", "auto": True,
                                     "description": "%s (Debian %s, needed by %s)" % (choice, "library", deb)})
                    new.append(choice)
                    hit = choice
                needs.add(hit)
            deb_deps[deb] = needs
        todo = new
    for p in packages:
        deps = list(p.get("depends", ()))
        if p.get("auto_depends", True):
            for deb in p.get("debs", ()):
                deps += sorted(d for d in deb_deps[deb] if d != p["name"] and d not in deps)
        p["Depends"] = [d for i, d in enumerate(deps) if d not in deps[:i] and d != p["name"]]
        p["Version"] = p.get("version") or (_ipk_version(debs[p["debs"][0]]["Version"]) if p.get("debs")
                                            else MARKER_VERSION)
    known = {p["name"] for p in packages}
    for p in packages:
        for d in p["Depends"]:
            if d not in known:
                raise FeedError("package %s depends on %s, which no recipe builds" % (p["name"], d))
    return packages, debs


def _ipk_version(debian_version):
    """Debian's version without the epoch (a ':' has no place in an .ipk file name)."""
    return debian_version.split(":", 1)[-1]


def _deb_file(stanza):
    return "%s_%s_%s.deb" % (stanza["Package"], stanza["Version"].replace(":", "%3a"), stanza["Architecture"])


def fetch_debs(debs, cache_dir):
    """Download the .deb files not yet in ``cache_dir`` (apt-get download) and unpack each once;
    returns {deb: unpacked directory}."""
    os.makedirs(cache_dir, exist_ok=True)
    need = ["%s=%s" % (n, st["Version"]) for n, st in sorted(debs.items())
            if not os.path.exists(os.path.join(cache_dir, _deb_file(st)))]
    if need:
        _log("downloading %d Debian package(s) into %s" % (len(need), cache_dir))
        res = subprocess.run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root"] + need,
                             cwd=cache_dir, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise FeedError("apt-get download failed: %s" % " | ".join(res.stderr.strip().splitlines()[-3:]))
    trees = {}
    for n, st in sorted(debs.items()):
        deb = os.path.join(cache_dir, _deb_file(st))
        if not os.path.exists(deb):
            raise FeedError("apt-get download did not write %s" % deb)
        tree = os.path.join(cache_dir, "x", _deb_file(st)[:-4])
        if not os.path.exists(os.path.join(tree, ".done")):
            shutil.rmtree(tree, ignore_errors=True)
            os.makedirs(tree)
            subprocess.run(["dpkg-deb", "-x", deb, tree], check=True)
            with open(os.path.join(tree, ".done"), "w") as f:
                f.write("")
        trees[n] = tree
    return trees


def _matches(rel, patterns):
    return any(rel == p or rel.startswith(p.rstrip("/") + "/") or fnmatch.fnmatchcase(rel, p) for p in patterns)


def _payload(pkg, trees, recipe):
    """{"./path": (bytes | None, mode, link | None)} of one package (regular files and symlinks;
    the directories above them are added by :func:`_entries`)."""
    items = {}
    exclude = list(recipe.get("exclude", ())) + list(pkg.get("exclude", ()))
    include = pkg.get("include")
    for deb in pkg.get("debs", ()):
        root = trees[deb]
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            names = sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            for fn in names:
                full = os.path.join(dirpath, fn)
                rel = os.path.normpath(os.path.join(rel_dir, fn))
                if rel == ".done" or _matches(rel, exclude) or (include and not _matches(rel, include)):
                    continue
                items["./" + rel] = _item(full)
    if pkg.get("files"):
        root = os.path.join(FEEDS_RECIPE_DIR, "files", pkg["name"])
        if not os.path.isdir(root):
            raise FeedError("package %s: %s is missing" % (pkg["name"], root))
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                items["./" + os.path.relpath(full, root)] = _item(full)
    for path, target in sorted(pkg.get("links", {}).items()):
        items["." + path] = (None, 0o777, target)
    return items


def _item(full):
    if os.path.islink(full):
        return (None, 0o777, os.readlink(full))
    with open(full, "rb") as fh:
        return (fh.read(), os.stat(full).st_mode & 0o7777, None)


def _entries(items):
    entries = {"./": (None, 0o755, None)}
    for name in items:
        parts = name[2:].split("/")[:-1]
        for i in range(1, len(parts) + 1):
            entries.setdefault("./" + "/".join(parts[:i]) + "/", (None, 0o755, None))
    entries.update(items)
    return [(name, data, mode, link) for name, (data, mode, link) in sorted(entries.items())]


def _scripts(name):
    out = {}
    sdir = os.path.join(FEEDS_RECIPE_DIR, "scripts")
    for script in ("preinst", "postinst", "prerm", "postrm"):
        path = os.path.join(sdir, "%s.%s" % (name, script))
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                out[script] = f.read()
    return out


def _feed_layout(packages):
    """{feed path: (arch, [package names])}: the distribution feed per arch, and on PowerPC the
    separate Docker feed; a Debian library goes where the packages that need it are."""
    by_name = {p["name"]: p for p in packages}
    docker_only = {p["name"] for p in packages if p.get("docker_feed")}
    # libraries only needed by Docker-feed packages follow them into that feed
    changed = True
    while changed:
        changed = False
        for p in packages:
            if not p.get("auto") or p["name"] in docker_only:
                continue
            users = [q["name"] for q in packages if p["name"] in q["Depends"]]
            if users and all(u in docker_only for u in users):
                docker_only.add(p["name"])
                changed = True
    layout = {}
    for arch in ARCHES:
        names = sorted(by_name) if arch != DOCKER_FEED_ARCH else sorted(set(by_name) - docker_only)
        layout["feeds/%s/packages" % arch] = (arch, names)
    layout["feeds/docker-ppc/%s" % DOCKER_FEED_ARCH] = (DOCKER_FEED_ARCH, sorted(docker_only))
    return layout


def _ensure_key(key_dir, name, comment):
    sec, pub = os.path.join(key_dir, name + ".sec"), os.path.join(key_dir, name + ".pub")
    if not (os.path.exists(sec) and os.path.exists(pub)):
        os.makedirs(key_dir, exist_ok=True)
        keygen(sec, pub, comment)
    with open(pub, "rb") as f:
        fingerprint = _fingerprint(f.read().decode())
    return sec, pub, fingerprint


def _fingerprint(public_key_text):
    return usign_sim._usign.parse_public_key(public_key_text).fingerprint  # pylint: disable=protected-access


def _result(www_dir, key_dir):
    return {
        "feeds": {arch: [{"name": DIST_FEED, "path": "feeds/%s/packages" % arch}] for arch in ARCHES},
        "dist_key": os.path.join(key_dir, "dist.pub"),
        "docker_feed": {"path": "feeds/docker-ppc/%s" % DOCKER_FEED_ARCH,
                        "key": os.path.join(key_dir, "docker-ppc.pub"),
                        "secret": os.path.join(key_dir, "docker-ppc.sec")},
    }


def router_feed_files(result, opkg_arch, base_url):
    """What a router of ``opkg_arch`` needs to use the distribution feed of ``result`` (what
    :func:`ensure_feeds` returned) served at ``base_url`` (the www directory's URL):
    {"etc/opkg/distfeeds.conf": text, "etc/opkg/keys/<fingerprint>": public key text}, as
    ``opkg-key add`` would store the key. The Docker feed of Turris 1.x is not in it: adding it
    (customfeeds.conf, its key) is the docker role's work."""
    with open(result["dist_key"], encoding="utf-8") as f:
        pub = f.read()
    fingerprint = _fingerprint(pub)
    lines = ["src/gz %s %s/%s\n" % (f["name"], base_url.rstrip("/"), f["path"]) for f in result["feeds"][opkg_arch]]
    return {"etc/opkg/distfeeds.conf": "".join(lines), "etc/opkg/keys/%s" % fingerprint: pub}


def _read_stamp(www_dir):
    try:
        with open(os.path.join(www_dir, "feeds", STAMP), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ensure_feeds(www_dir, key_dir, cache_dir):
    """Build (or reuse) the fleet's signed feeds under ``www_dir``/feeds and return where they are.

    Cached: nothing is rebuilt while the recipe (tests/sim/feeds), the Debian versions of the
    recipe's packages and the keys stay the same. Debian downloads are kept in ``cache_dir``;
    the usign keys (dist.*, docker-ppc.*) in ``key_dir``, made when missing."""
    www_dir, key_dir, cache_dir = str(www_dir), str(key_dir), str(cache_dir)
    os.makedirs(cache_dir, exist_ok=True)
    with open(os.path.join(cache_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        dist_sec, _dist_pub, dist_fp = _ensure_key(key_dir, "dist", "turris-sim distribution feed")
        ppc_sec, _ppc_pub, ppc_fp = _ensure_key(key_dir, "docker-ppc",
                                                "turris-sim patched Docker feed (Turris 1.x)")
        recipe = load_recipe()
        explicit = sorted({d for p in recipe["packages"] for d in p.get("debs", ())})
        stamp = _read_stamp(www_dir)
        versions = {n: st["Version"] for n, st in _apt_show(explicit).items()}
        key = {"recipe": recipe_digest(), "keys": [dist_fp, ppc_fp], "versions": versions}
        if stamp and (stamp.get("key") == key or (len(versions) < len(explicit) and stamp.get("key", {}).get(
                "recipe") == key["recipe"] and stamp.get("key", {}).get("keys") == key["keys"])):
            if len(versions) < len(explicit):
                _log("apt does not know every Debian package of the recipe: reusing the feeds built before")
            return _result(www_dir, key_dir)
        start = time.time()
        packages, debs = resolve(recipe)
        trees = fetch_debs(debs, cache_dir)
        tmp = os.path.join(www_dir, ".feeds.new-%d" % os.getpid())
        shutil.rmtree(tmp, ignore_errors=True)
        sizes = _build(packages, trees, recipe, tmp, {DIST_FEED: dist_sec, "docker": ppc_sec})
        with open(os.path.join(tmp, STAMP), "w", encoding="utf-8") as f:
            json.dump({"key": key, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "seconds": round(time.time() - start, 1), "sizes": sizes}, f, indent=2, sort_keys=True)
        final = os.path.join(www_dir, "feeds")
        old = os.path.join(www_dir, ".feeds.old-%d" % os.getpid())
        if os.path.exists(final):
            os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        _log("built %d packages in %d feeds in %.0f s (%s)" % (
            len(packages), len(sizes), time.time() - start,
            ", ".join("%s %.1f MB" % (k, v / 1e6) for k, v in sorted(sizes.items()))))
        return _result(www_dir, key_dir)


def _build(packages, trees, recipe, out_root, secrets):
    """Write every feed under ``out_root``; returns {feed path: bytes}."""
    from concurrent.futures import ThreadPoolExecutor  # pylint: disable=import-outside-toplevel
    # lxc-<tool> per tool of the package that asks for it
    payloads = {}
    for p in list(packages):
        payloads[p["name"]] = {} if p.get("marker") else _payload(p, trees, recipe)
        if p.get("tools_of"):
            known = {q["name"] for q in packages}
            for path in sorted(payloads[p["name"]]):
                tool = os.path.basename(path)
                if path.startswith("./usr/bin/lxc-") and tool not in known:
                    packages.append({"name": tool, "marker": True, "Depends": [p["name"]], "Version": p["Version"],
                                     "description": "%s (in the %s package)" % (tool, p["name"])})
                    payloads[tool] = {}
    owners = {}
    for name, items in payloads.items():
        for path, (_d, _m, _l) in items.items():
            if path in owners:
                raise FeedError("%s is in both %s and %s" % (path, owners[path], name))
            owners[path] = name

    def compress(name):
        entries = _entries(payloads[name])
        size = sum(len(d) for _n, d, _m, _l in entries if d is not None)
        return name, _tar_gz(entries, level=6), size
    with ThreadPoolExecutor(max_workers=2) as pool:
        data = {n: (tgz, size) for n, tgz, size in pool.map(compress, sorted(payloads, key=lambda n: -sum(
            len(d or b"") for d, _m, _l in payloads[n].values())))}
    by_name = {p["name"]: p for p in packages}
    sizes = {}
    for feed_path, (arch, names) in sorted(_feed_layout(packages).items()):
        out_dir = os.path.join(out_root, os.path.relpath(feed_path, "feeds"))  # out_root becomes www/feeds
        os.makedirs(out_dir)
        stanzas = []
        for name in sorted(names):
            p = by_name[name]
            control = {"Package": name, "Version": p["Version"], "Depends": ", ".join(p["Depends"]),
                       "Provides": ", ".join(p.get("provides", ())), "Source": "tests/sim/feeds",
                       "Section": p.get("section", "kernel" if p.get("kernel") else "utils"),
                       "Maintainer": "turris.containers simulator", "Architecture": arch,
                       "Description": p.get("description") or (
                           "%s (empty: the simulated router's kernel is the host's)" % name if p.get("kernel")
                           else "%s (marker package: provided by the base system)" % name if p.get("marker")
                           else name)}
            if p.get("debs"):
                control["SourceName"] = p["debs"][0]
                control["License"] = "see the Debian package %s" % p["debs"][0]
            tgz, size = data[name]
            path, control_text = _write_ipk(out_dir, control, tgz, size, _scripts(name),
                                             p.get("conffiles", ()), outer_level=1)
            fields = opkg_sim.parse_stanzas(control_text)[0]
            with open(path, "rb") as f:
                blob = f.read()
            fields["Filename"] = os.path.basename(path)
            fields["Size"] = str(len(blob))
            fields["SHA256sum"] = hashlib.sha256(blob).hexdigest()
            stanzas.append(opkg_sim.format_stanza(fields, INDEX_ORDER))
            sizes[feed_path] = sizes.get(feed_path, 0) + len(blob)
        text = ("\n".join(stanzas) + ("\n" if stanzas else "")).encode()
        secret = secrets["docker"] if feed_path.startswith("feeds/docker-") else secrets[DIST_FEED]
        _write_index_files(out_dir, text, secret)
    return sizes


def _write_index_files(feed_dir, text, secret_key_path):
    with open(os.path.join(feed_dir, "Packages"), "wb") as f:
        f.write(text)
    with open(os.path.join(feed_dir, "Packages.gz"), "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=MTIME) as gz:
            gz.write(text)
    if secret_key_path:
        with open(secret_key_path, "rb") as f:
            key = usign_sim.parse_secret_key(f.read())
        with open(os.path.join(feed_dir, "Packages.sig"), "w") as f:
            f.write(usign_sim.sign(key, text))


class _Counter:
    """A write-only file that counts what passes through, per client address."""

    def __init__(self, raw, stats, client):
        self.raw, self.stats, self.client = raw, stats, client

    def write(self, data):
        self.stats[self.client] = self.stats.get(self.client, 0) + len(data)
        return self.raw.write(data)

    def flush(self):
        return self.raw.flush()

    def __getattr__(self, name):
        return getattr(self.raw, name)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def setup(self):
        super().setup()
        self.wfile = _Counter(self.wfile, self.server.bytes_sent, self.client_address[0])

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


def serve(directory, host="127.0.0.1", port=0):
    """Serve ``directory`` over HTTP in a daemon thread; returns (server, base_url).
    ``server.bytes_sent`` counts the bytes sent (headers and bodies) per client address.
    Stop with server.shutdown(); server.server_close()."""
    handler = functools.partial(_QuietHandler, directory=directory)
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.bytes_sent = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, "http://%s:%d" % (host, server.server_address[1])


def keygen(secret_path, public_path, comment=None):
    key = usign_sim.generate(comment)
    with open(secret_path, "w") as f:
        f.write(usign_sim.format_secret_key(key))
    os.chmod(secret_path, 0o600)
    with open(public_path, "w") as f:
        f.write(usign_sim.format_public_key(key))
    return key.fingerprint_hex


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("keygen", help="make a usign key pair")
    p.add_argument("--secret", required=True)
    p.add_argument("--public", required=True)
    p.add_argument("--comment")
    p = sub.add_parser("index", help="(re)write Packages, Packages.gz, Packages.sig of a directory of .ipk")
    p.add_argument("--dir", required=True)
    p.add_argument("--key", help="usign secret key; without it no Packages.sig")
    p = sub.add_parser("build", help="build (or reuse) the fleet's feeds from tests/sim/feeds; print where")
    p.add_argument("--www", required=True, help="document root: the feeds go to WWW/feeds")
    p.add_argument("--keys", required=True, help="directory of the usign keys (made when missing)")
    p.add_argument("--cache", default="/var/cache/turris-sim/debs", help="Debian downloads")
    p = sub.add_parser("serve", help="serve a directory over HTTP until interrupted")
    p.add_argument("--dir", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    if args.command == "keygen":
        print(keygen(args.secret, args.public, args.comment))
    elif args.command == "index":
        write_index(args.dir, args.key)
    elif args.command == "build":
        try:
            print(json.dumps(ensure_feeds(args.www, args.keys, args.cache), indent=2, sort_keys=True))
        except FeedError as exc:
            print("feed: error: %s" % exc, file=sys.stderr)
            return 2
    elif args.command == "serve":
        server, url = serve(args.dir, args.host, args.port)
        print(url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
