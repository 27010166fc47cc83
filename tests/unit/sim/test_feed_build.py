# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet's package feeds (tests/sim/feed.py ensure_feeds): Debian bookworm packages repacked
under OpenWrt names, signed indexes per arch, the Turris 1.x Docker feed apart; and on a simulated
router, `opkg install lxc` / `dockerd` give an LXC and a Docker that really run."""
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SIM_DIR = REPO / "tests" / "sim"
sys.path.insert(0, str(SIM_DIR))
import feed  # noqa: E402  pylint: disable=wrong-import-position
import opkg_sim  # noqa: E402  pylint: disable=wrong-import-position
import usign_sim  # noqa: E402  pylint: disable=wrong-import-position

CACHE = Path(os.environ.get("TSIM_DEB_CACHE", "/var/cache/turris-sim/debs"))
DOCKER = {"dockerd", "docker", "containerd"}
FLEET = "feedtest"


def _apt_knows_lxc():
    res = subprocess.run(["apt-cache", "show", "--no-all-versions", "lxc"], capture_output=True, text=True,
                         check=False) if shutil.which("apt-cache") else None
    return res is not None and res.returncode == 0 and "Version:" in res.stdout


needs_apt = pytest.mark.skipif(not _apt_knows_lxc(), reason="needs apt-cache with Debian bookworm lists "
                               "(apt-get update) to repack Debian packages")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: writes /var/cache/turris-sim and "
                                "brings up a simulated router (LXC)")


def read_index(feed_dir):
    return {s["Package"]: s for s in opkg_sim.parse_stanzas((feed_dir / "Packages").read_text())}


# --------------------------------------------------------------------------- recipe, no build

def test_recipe_files_exist_and_names_are_opkg_names():
    recipe = feed.load_recipe()
    names = [p["name"] for p in recipe["packages"]]
    assert len(names) == len(set(names))
    for p in recipe["packages"]:
        assert all(c in "abcdefghijklmnopqrstuvwxyz0123456789.+-" for c in p["name"]), p["name"]
        if p.get("files"):
            root = SIM_DIR / "feeds" / "files" / p["name"]
            assert root.is_dir(), root
        for conf in p.get("conffiles", ()):
            assert (SIM_DIR / "feeds" / "files" / p["name"] / conf.lstrip("/")).is_file(), conf
    for script in (SIM_DIR / "feeds" / "scripts").iterdir():
        name, _dot, kind = script.name.rpartition(".")
        assert name in names and kind in ("preinst", "postinst", "prerm", "postrm"), script.name
    # the base list is what the router's base really has, when a base is around to compare
    bases = sorted(Path("/var/lib/turris-sim/base").glob("*/rootfs/var/lib/dpkg/status"))
    if bases:
        status = bases[-1].read_text()
        installed = {s["Package"] for s in opkg_sim.parse_stanzas(status) if "Package" in s}
        assert set(recipe["base"]) <= installed, sorted(set(recipe["base"]) - installed)


def _render(tmp_path, config):
    """Run the dockerd init script's process_config with busybox sh and the simulator's uci on
    ``config`` (the text of /etc/config/dockerd); return the parsed daemon.json."""
    confdir = tmp_path / "config"
    confdir.mkdir()
    (confdir / "dockerd").write_text(config)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "uci").write_text('#!/bin/sh\nexec "%s" -c "%s" -t "%s" "$@"\n'
                                % (SIM_DIR / "rootfs" / "sbin" / "uci", confdir, tmp_path / "delta"))
    (bindir / "uci").chmod(0o755)
    out = tmp_path / "out"
    script = SIM_DIR / "feeds" / "files" / "dockerd" / "etc" / "init.d" / "dockerd"
    shell = shutil.which("busybox")
    cmd = ([shell, "sh"] if shell else ["sh"]) + ["-c", '. "$0"; DOCKER_CONF_DIR="$1"; DOCKERD_CONF="$1/daemon.json"; '
                                                  'process_config', str(script), str(out)]
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]))
    subprocess.run(cmd, check=True, env=env)
    return json.loads((out / "daemon.json").read_text())


def test_dockerd_init_renders_the_default_config(tmp_path):
    config = (SIM_DIR / "feeds" / "files" / "dockerd" / "etc" / "config" / "dockerd").read_text()
    assert _render(tmp_path, config) == {"data-root": "/opt/docker/", "log-level": "warn", "iptables": True,
                                         "hosts": ["unix:///var/run/docker.sock"]}


def test_dockerd_init_renders_every_option(tmp_path):
    config = ("config globals 'globals'\n\toption data_root '/srv/docker'\n\toption log_level 'debug'\n"
              "\toption iptables '0'\n\toption ip6tables '0'\n\toption storage_driver 'vfs'\n"
              "\toption bip '172.18.0.1/24'\n\tlist registry_mirrors 'https://m1.example'\n"
              "\tlist registry_mirrors 'http://10.0.0.1:5000'\n\tlist hosts 'unix:///var/run/docker.sock'\n"
              "\tlist hosts 'tcp://127.0.0.1:2375'\n\tlist dns '9.9.9.9'\n\tlist dns '1.1.1.1'\n"
              "\nconfig firewall 'firewall'\n\toption device 'docker0'\n")
    assert _render(tmp_path, config) == {
        "data-root": "/srv/docker", "log-level": "debug", "iptables": False, "ip6tables": False,
        "storage-driver": "vfs", "bip": "172.18.0.1/24",
        "registry-mirrors": ["https://m1.example", "http://10.0.0.1:5000"],
        "hosts": ["unix:///var/run/docker.sock", "tcp://127.0.0.1:2375"], "dns": ["9.9.9.9", "1.1.1.1"]}


# --------------------------------------------------------------------------- the build

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not _apt_knows_lxc():
        pytest.skip("needs apt-cache with Debian bookworm lists (apt-get update) to repack Debian packages")
    if os.geteuid() != 0:
        pytest.skip("needs root: writes /var/cache/turris-sim and brings up a simulated router (LXC)")
    base = tmp_path_factory.mktemp("feeds")
    www, keys = base / "www", base / "keys"
    start = time.time()
    result = feed.ensure_feeds(www, keys, CACHE)
    print("\nfeeds built in %.1f s" % (time.time() - start))
    yield www, keys, result
    shutil.rmtree(base, ignore_errors=True)  # about 250 MB


@needs_apt
@needs_root
def test_feeds_are_signed_per_arch_and_docker_is_apart_on_turris1x(built):
    www, keys, result = built
    assert set(result["feeds"]) == set(feed.ARCHES)
    dist_pub = Path(result["dist_key"]).read_text()
    docker_pub = Path(result["docker_feed"]["key"]).read_text()
    assert Path(result["docker_feed"]["secret"]).exists() and dist_pub != docker_pub
    stamp = json.loads((www / "feeds" / feed.STAMP).read_text())
    for path, size in sorted(stamp["sizes"].items()):
        print("%-40s %6.1f MB" % (path, size / 1e6))
    for arch, feeds in result["feeds"].items():
        assert [f["name"] for f in feeds] == ["turris_packages"]
        fdir = www / feeds[0]["path"]
        text = (fdir / "Packages").read_bytes()
        assert usign_sim.verify(dist_pub, text, (fdir / "Packages.sig").read_text())
        assert not usign_sim.verify(docker_pub, text, (fdir / "Packages.sig").read_text())
        index = read_index(fdir)
        assert {s["Architecture"] for s in index.values()} == {arch}
        for name in ("liblxc", "lxc", "lxc-start", "lxc-create", "lxc-attach", "lxc-checkconfig", "lxc-templates",
                     "lxc-auto", "iptables", "iptables-mod-extra", "kmod-veth", "kmod-ipt-nat", "tini", "runc",
                     "python3-light", "tar", "wget", "getopt"):
            assert name in index, (arch, name)
        for s in index.values():  # every dependency is in this feed (Turris 1.x: or in the Docker feed)
            for group in opkg_sim.parse_depends(s.get("Depends")):
                assert any(alt[0] in index for alt in group) or arch == feed.DOCKER_FEED_ARCH, (s["Package"], group)
        if arch == feed.DOCKER_FEED_ARCH:
            assert not DOCKER & set(index)
        else:
            assert DOCKER <= set(index)
            assert {"containerd", "tini", "iptables", "kmod-veth"} <= set(index["dockerd"]["Depends"].split(", "))
    ddir = www / result["docker_feed"]["path"]
    text = (ddir / "Packages").read_bytes()
    assert usign_sim.verify(docker_pub, text, (ddir / "Packages.sig").read_text())
    assert not usign_sim.verify(dist_pub, text, (ddir / "Packages.sig").read_text())
    dindex = read_index(ddir)
    assert DOCKER <= set(dindex) and {s["Architecture"] for s in dindex.values()} == {feed.DOCKER_FEED_ARCH}
    dist_ppc = read_index(www / result["feeds"][feed.DOCKER_FEED_ARCH][0]["path"])
    for s in dindex.values():
        for group in opkg_sim.parse_depends(s.get("Depends")):
            assert any(alt[0] in dindex or alt[0] in dist_ppc for alt in group), (s["Package"], group)


@needs_apt
@needs_root
def test_ipk_payloads_carry_the_debian_binaries_and_openwrt_files(built):
    www, _keys, result = built
    fdir = www / result["feeds"]["aarch64_cortex-a53"][0]["path"]
    index = read_index(fdir)

    def payload(name):
        control, data = opkg_sim.open_ipk((fdir / index[name]["Filename"]).read_bytes())
        conffiles = opkg_sim._member_text(control, "conffiles") or ""  # pylint: disable=protected-access
        return {m.name.lstrip("."): m for m in data.getmembers()}, data, conffiles
    files, data, conffiles = payload("dockerd")
    assert {"/usr/sbin/dockerd", "/usr/sbin/docker-proxy", "/etc/init.d/dockerd", "/etc/config/dockerd"} <= set(files)
    assert "/etc/config/dockerd" in conffiles.split()
    init = data.extractfile(files["/etc/init.d/dockerd"]).read().decode()
    assert "USE_PROCD=1" in init and "START=99" in init and files["/etc/init.d/dockerd"].mode & 0o111
    config = data.extractfile(files["/etc/config/dockerd"]).read().decode()
    for line in ("config globals 'globals'", "option data_root '/opt/docker/'", "option log_level 'warn'",
                 "option iptables '1'", "list hosts 'unix:///var/run/docker.sock'", "config proxies 'proxies'",
                 "config firewall 'firewall'", "option device 'docker0'"):
        assert line in config
    files, data, _c = payload("lxc-common")
    assert data.extractfile(files["/etc/lxc/lxc.conf"]).read() == b"lxc.lxcpath = /srv/lxc\n"
    files, _d, conffiles = payload("lxc-auto")
    assert files["/etc/config/lxc-auto"].size == 0 and conffiles.split() == ["/etc/config/lxc-auto"]
    assert "/etc/init.d/lxc-auto" not in files  # the router's own (tests/sim/rootfs)
    files, _d, _c = payload("lxc")
    assert {"/usr/bin/lxc-start", "/usr/bin/lxc-create", "/usr/bin/lxc-checkconfig"} <= set(files)
    assert not [f for f in files if f.startswith(("/usr/share/doc", "/usr/share/man", "/lib/systemd"))]
    files, _d, _c = payload("lxc-templates")
    assert {"/usr/share/lxc/templates/lxc-download", "/usr/share/lxc/templates/lxc-busybox"} <= set(files)
    files, _d, _c = payload("tini")
    assert files["/usr/bin/docker-init"].linkname == "tini-static"


@needs_apt
@needs_root
def test_python_is_split_as_openwrt_splits_it(built):
    """python3-base: the interpreter; python3-light: most of the standard library; one package per
    module that OpenWrt packages apart (openwrt/packages lang/python/python3/files/python3-package-*.mk);
    python3: all of them."""
    www, _keys, result = built
    fdir = www / result["feeds"]["arm_cortex-a9_vfpv3-d16"][0]["path"]
    index = read_index(fdir)

    def files(name):
        _control, data = opkg_sim.open_ipk((fdir / index[name]["Filename"]).read_bytes())
        return {m.name.lstrip(".") for m in data.getmembers() if not m.isdir()}
    lib = "/usr/lib/python3.11/"
    base = files("python3-base")
    assert {"/usr/bin/python3", "/usr/bin/python3.11", lib + "os.py", lib + "site.py", lib + "encodings/utf_8.py"} <= base
    light = files("python3-light")
    assert {lib + "json/__init__.py", lib + "subprocess.py", lib + "zipfile.py", lib + "shutil.py"} <= light
    modules = {"python3-logging": lib + "logging/__init__.py", "python3-urllib": lib + "urllib/request.py",
               "python3-email": lib + "email/parser.py", "python3-decimal": lib + "decimal.py",
               "python3-ctypes": lib + "ctypes/__init__.py", "python3-xml": lib + "xml/__init__.py",
               "python3-unittest": lib + "unittest/__init__.py"}
    for name, path in modules.items():
        assert path in files(name) and path not in light, name
        assert "python3-light" in index[name]["Depends"].split(", "), name
    assert any(f.startswith(lib + "lib-dynload/_ssl.") for f in files("python3-openssl"))
    assert not any(f.startswith(lib + "lib-dynload/_ssl.") for f in light)
    assert not [f for f in base | light if "/test/" in f or f.startswith(tuple(lib + d for d in ("idlelib", "tkinter", "ensurepip")))]
    assert index["python3-light"]["Depends"] == "python3-base"
    assert "python3-email" in index["python3-urllib"]["Depends"].split(", ")
    full = set(index["python3"]["Depends"].split(", "))
    assert {"python3-light"} | set(modules) | {"python3-openssl"} <= full
    assert all(n in index for n in full)


@needs_apt
@needs_root
def test_router_feed_files_point_at_the_dist_feed_with_its_key(built):
    _www, keys, result = built
    files = feed.router_feed_files(result, "powerpc_8548", "http://10.213.64.1/")
    key_files = [k for k in files if k.startswith("etc/opkg/keys/")]
    assert files["etc/opkg/distfeeds.conf"] == ("src/gz turris_packages "
                                                "http://10.213.64.1/feeds/powerpc_8548/packages\n")
    assert len(key_files) == 1 and files[key_files[0]] == (keys / "dist.pub").read_text()
    # opkg-key's name for a key: its fingerprint, as `usign -F` prints it
    res = subprocess.run([str(SIM_DIR / "rootfs" / "usr" / "bin" / "usign"), "-F", "-p", str(keys / "dist.pub")],
                         capture_output=True, text=True, check=True)
    assert key_files[0] == "etc/opkg/keys/" + res.stdout.strip()


@needs_apt
@needs_root
def test_second_call_is_cached(built):
    www, keys, result = built
    stamp = www / "feeds" / feed.STAMP
    before = stamp.stat().st_mtime_ns
    start = time.time()
    assert feed.ensure_feeds(www, keys, CACHE) == result
    assert time.time() - start < 10
    assert stamp.stat().st_mtime_ns == before


# --------------------------------------------------------------------------- on simulated routers

def sim(*args, check=True):
    res = subprocess.run([sys.executable, str(SIM_DIR / "turris_sim.py")] + list(args), capture_output=True,
                         text=True, check=False)
    if check and res.returncode != 0:
        raise AssertionError("turris_sim.py %s: %s" % (" ".join(args), res.stderr))
    return res


@pytest.fixture(scope="module")
def routers(built):
    if not shutil.which("lxc-start"):
        pytest.skip("needs LXC on the host (make hostdeps) to bring up simulated routers")
    import turris_sim  # pylint: disable=import-outside-toplevel
    sim("up", "--fleet", FLEET, "--count", "2", "--board", "mixed")
    try:
        state = json.loads(sim("status", "--fleet", FLEET, "--json").stdout)
        server, url = feed.serve(str(built[0]), host=turris_sim.BRIDGE_ADDR, port=0)
        yield {r["board"]: r for r in state}, server, url
        server.shutdown()
        server.server_close()
    finally:
        sim("down", "--fleet", FLEET, check=False)


def on(router, script, timeout=600):
    """Run ``script`` with /bin/sh on a router (as root, lxc-attach); return (rc, output)."""
    import turris_sim  # pylint: disable=import-outside-toplevel
    res = subprocess.run(["lxc-attach", "-P", str(turris_sim.LXCPATH), "-n", router["name"], "--", "/bin/sh", "-c",
                          script], capture_output=True, text=True, timeout=timeout, check=False)
    return res.returncode, res.stdout + res.stderr


def add_feed(router, name, url, key_text, conf="/etc/opkg/distfeeds.conf"):
    rc, out = on(router, "cat > /tmp/feed.pub <<'EOF'\n%sEOF\nopkg-key add /tmp/feed.pub && "
                 "echo 'src/gz %s %s' >> %s" % (key_text, name, url, conf))
    assert rc == 0, out


# The simulator's /bin/opkg wrapper resolves its library through "$(dirname "$0")/../usr/lib", which is
# /usr/usr/lib on a merged-/usr base: call the same program by its real path until that is fixed.
OPKG = 'opkg() { python3 /usr/lib/turris-sim/opkg_sim.py --turris-sim-wrapper "$@"; }; '


@needs_apt
@needs_root
def test_lxc_and_docker_from_the_feed_really_run(built, routers):
    _www, _keys, result = built
    by_board, server, url = routers
    omnia = by_board["omnia"]
    arch = "arm_cortex-a9_vfpv3-d16"
    rc, out = on(omnia, ": > /etc/opkg/distfeeds.conf")
    add_feed(omnia, "turris_packages", "%s/%s" % (url, result["feeds"][arch][0]["path"]),
             Path(result["dist_key"]).read_text())
    ip = omnia["ip"]
    server.bytes_sent.pop(ip, None)
    start = time.time()
    rc, out = on(omnia, OPKG + "opkg update && opkg install lxc")
    elapsed = time.time() - start
    assert rc == 0, out
    fetched = server.bytes_sent.get(ip, 0)
    print("\nbench: opkg update + opkg install lxc on %s: %d bytes fetched (%.1f MB) in %.1f s"
          % (omnia["inventory_name"], fetched, fetched / 1e6, elapsed))
    assert fetched > 1e6
    rc, out = on(omnia, OPKG + "opkg install lxc-templates lxc-auto lxc-start lxc-create && lxc-checkconfig && "
                 "lxc-config lxc.lxcpath && ls -l /usr/bin/wget")
    assert rc == 0, out
    assert "/srv/lxc" in out and "Namespaces" in out and "-> " not in out.splitlines()[-1]  # GNU wget, not busybox's
    # cgroup v1 hierarchies, as the namespaces role mounts them (lxc-freeze needs the freezer)
    rc, out = on(omnia, "mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup && for c in $(awk '!/^#/ && $4 == 1 "
                 "{ print $1 }' /proc/cgroups); do mkdir -p /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup "
                 "/sys/fs/cgroup/$c || rmdir /sys/fs/cgroup/$c; done; grep -c ' cgroup ' /proc/mounts")
    assert rc == 0, out
    rc, out = on(omnia, "ip link add feedbr0 type bridge && ip link set feedbr0 up && "
                 "lxc-create -n b1 -t busybox && echo 'lxc.net.0.link = feedbr0' >> /srv/lxc/b1/config && "
                 "lxc-start -n b1 && lxc-wait -n b1 -s RUNNING -t 30 && lxc-attach -n b1 -- /bin/busybox uname -n && "
                 "lxc-freeze -n b1 && lxc-info -n b1 -s && lxc-unfreeze -n b1 && lxc-stop -n b1 -k && "
                 "lxc-destroy -n b1 && ip link del feedbr0")
    assert rc == 0 and "b1" in out and "FROZEN" in out, out
    rc, out = on(omnia, OPKG + "opkg install dockerd docker && uci set dockerd.globals.storage_driver=vfs && "
                 "uci set dockerd.globals.iptables=0 && uci commit dockerd && /etc/init.d/dockerd start && "
                 "cat /tmp/dockerd/daemon.json && "
                 "n=0; until docker info >/tmp/info 2>&1 || [ $n -ge 60 ]; do sleep 1; n=$((n+1)); done; cat /tmp/info")
    assert rc == 0, out
    assert "Storage Driver: vfs" in out and '"iptables": false' in out, out
    # a container really runs: an image made of the router's busybox and the libraries it needs
    rc, out = on(omnia, "set -e; r=/tmp/img; mkdir -p $r/bin; cp /bin/busybox $r/bin/; "
                 "for l in $(ldd /bin/busybox | grep -o '/[^ ]*'); do mkdir -p $r$(dirname $l); cp $l $r$l; done; "
                 "tar -C $r -c . | docker import - bb:1 >/dev/null; "
                 "docker run --rm bb:1 /bin/busybox echo hi-from-docker; "
                 "/etc/init.d/dockerd stop; /etc/init.d/dockerd status || true")
    assert rc == 0 and "hi-from-docker" in out and "inactive" in out, out
    # every ELF file the packages installed finds its libraries on the router
    rc, out = on(omnia, "for f in $(cat /usr/lib/opkg/info/*.list); do [ -f \"$f\" ] && [ ! -L \"$f\" ] || continue; "
                 "case $(head -c 4 \"$f\" | od -An -c | tr -d ' ') in 177ELF) ldd \"$f\" 2>&1 | grep 'not found' "
                 "| sed \"s|^|$f: |\";; esac; done; true")
    assert rc == 0 and "not found" not in out, out


@needs_apt
@needs_root
def test_turris1x_takes_docker_from_its_own_signed_feed(built, routers):
    _www, _keys, result = built
    by_board, _server, url = routers
    t1x = by_board["turris1x"]
    rc, out = on(t1x, ": > /etc/opkg/distfeeds.conf")
    add_feed(t1x, "turris_packages", "%s/%s" % (url, result["feeds"]["powerpc_8548"][0]["path"]),
             Path(result["dist_key"]).read_text())
    rc, out = on(t1x, OPKG + "opkg update && opkg install dockerd")
    assert rc != 0 and "Unknown package 'dockerd'" in out, out
    # the Docker feed's index does not verify with the distribution key alone
    rc, out = on(t1x, "echo 'src/gz docker %s/%s' > /etc/opkg/customfeeds.conf; %s opkg update; "
                 "opkg list | grep -c '^dockerd ' || true" % (url, result["docker_feed"]["path"], OPKG))
    assert out.strip().endswith("0"), out
    add_feed(t1x, "docker", "%s/%s" % (url, result["docker_feed"]["path"]),
             Path(result["docker_feed"]["key"]).read_text(), conf="/dev/null")
    rc, out = on(t1x, OPKG + "opkg update && opkg install dockerd docker && dockerd --version && docker --version "
                 "&& opkg list-installed | grep -E '^(containerd|runc|tini|iptables|kmod-veth) '")
    assert rc == 0 and "Docker version 20.10" in out, out


@needs_apt
@needs_root
def test_router_drops_a_tampered_index(built, routers):
    """A copy of the Omnia feed whose index was changed after signing: opkg update on the router
    reports the failed signature and keeps no list of it; the untouched feed still verifies."""
    www, _keys, result = built
    by_board, _server, url = routers
    omnia = by_board["omnia"]
    good = result["feeds"]["arm_cortex-a9_vfpv3-d16"][0]["path"]
    bad = "feeds/tampered/packages"
    shutil.rmtree(www / bad, ignore_errors=True)
    (www / bad).mkdir(parents=True)
    for name in ("Packages", "Packages.sig"):
        shutil.copy2(www / good / name, www / bad / name)
    index = (www / good / "Packages").read_bytes()
    assert b"Description:" in index
    tampered = index.replace(b"Description:", b"Description: (changed)", 1)
    (www / bad / "Packages").write_bytes(tampered)
    with gzip.open(www / bad / "Packages.gz", "wb") as fh:
        fh.write(tampered)
    rc, out = on(omnia, ": > /etc/opkg/distfeeds.conf && : > /etc/opkg/customfeeds.conf")
    add_feed(omnia, "turris_packages", "%s/%s" % (url, good), Path(result["dist_key"]).read_text())
    rc, out = on(omnia, "echo 'src/gz tampered %s/%s' >> /etc/opkg/customfeeds.conf; %s opkg update; "
                 "ls /var/opkg-lists" % (url, bad, OPKG))
    assert "Signature check failed" in out and "Signature check passed" in out, out
    lists = out.strip().splitlines()
    assert "turris_packages" in lists and "tampered" not in lists, out
