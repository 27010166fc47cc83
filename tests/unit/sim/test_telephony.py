"""The simulator's telephony feed (tests/sim/telephony.py): ELF dependencies read right, the
feed's packages named and split as OpenWrt's telephony feed does, every dependency inside the
feed or the image, a signed index, and the TurrisOS-like image's own opkg installing Asterisk
from it into a root where ``asterisk -V`` then runs.

The feed and image tests use the cached build root (debootstrap of sid + Asterisk's .debs, made
once by ``turris_sim.py up`` or ``tests/sim/telephony.py build``, a few minutes) and skip, saying
so, when it is not there."""
import gzip
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[3] / "tests" / "sim"
sys.path.insert(0, str(SIM))
sys.path.insert(0, str(SIM / "rootfs" / "usr" / "lib" / "turris-sim"))
import feed  # noqa: E402
import opkg_sim  # noqa: E402
import telephony  # noqa: E402
import usign_sim  # noqa: E402

ROOT_READY = os.path.isfile(os.path.join(telephony.root_dir(), "root.json"))
needs_root_cache = pytest.mark.skipif(
    not ROOT_READY, reason="the telephony build root is not cached: run `tests/sim/telephony.py build` "
    "(debootstrap sid, as root, a few minutes) or `turris_sim.py up`")


def test_elf_needed_reads_the_dynamic_section_of_real_binaries():
    soname, needed = telephony.elf_needed(Path(sys.executable).resolve().read_bytes())
    assert soname is None and "libc.so.6" in needed
    libc = next(p for p in ("/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6",
                            "/usr/lib/aarch64-linux-gnu/libc.so.6") if os.path.exists(p))
    soname, needed = telephony.elf_needed(Path(libc).read_bytes())
    assert soname == "libc.so.6" and any(n.startswith("ld-linux") for n in needed)
    assert telephony.elf_needed(b"#!/bin/sh\necho not elf\n") is None
    assert telephony.elf_needed(b"\x7fELF" + b"\0" * 10) is None  # truncated: not an error, not ELF


def test_feed_url_follows_the_simulator_bridge_settings(monkeypatch):
    monkeypatch.delenv("TSIM_NET", raising=False)
    monkeypatch.delenv("TSIM_WWW_PORT", raising=False)
    assert telephony.feed_url() == "http://10.213.64.1/" + telephony.feed_path()
    monkeypatch.setenv("TSIM_NET", "10.9.8")
    monkeypatch.setenv("TSIM_WWW_PORT", "8080")
    assert telephony.feed_url().startswith("http://10.9.8.1:8080/hbs/")


def test_recipe_uses_openwrt_names_and_module_groups():
    recipe = telephony.load_recipe()
    pk = recipe["packages"]
    assert all(n == "asterisk" or n.startswith("asterisk-") for n in pk)
    # openwrt/telephony net/asterisk/Makefile: what the asterisk flavor installs, and their groups
    assert "chan_pjsip" in pk["asterisk-pjsip"]["modules"] and "res_pjsip" in pk["asterisk-pjsip"]["modules"]
    assert set(pk["asterisk-pjsip"]["depends"]) == {"asterisk-res-http-websocket", "asterisk-res-pjproject",
                                                    "asterisk-res-sorcery"}
    assert pk["asterisk-codec-ulaw"]["modules"] == ["codec_ulaw"]
    assert "pbx_config" in pk["asterisk"]["modules"] and "asterisk.conf" in pk["asterisk"]["conffiles"]
    modules = [m for p in pk.values() for m in p.get("modules", ())]
    assert len(modules) == len(set(modules)), "a module in two packages"


@pytest.fixture(scope="module")
def built_feed():
    if not ROOT_READY:
        pytest.skip("the telephony build root is not cached (see the module docstring)")
    return telephony.ensure_feed()


def _index(feed_dir):
    with gzip.open(os.path.join(feed_dir, "Packages.gz"), "rt") as f:
        return {st["Package"]: st for st in opkg_sim.parse_stanzas(f.read())}


@needs_root_cache
def test_feed_is_signed_and_closed_under_its_dependencies(built_feed):
    text = Path(built_feed, "Packages").read_bytes()
    _sec, pub = telephony.ensure_key()
    assert usign_sim.verify(pub, text, Path(built_feed, "Packages.sig").read_text())
    assert not usign_sim.verify(pub, text + b"\n", Path(built_feed, "Packages.sig").read_text())
    index = _index(built_feed)
    wanted = {"asterisk", "asterisk-pjsip", "asterisk-res-rtp-asterisk", "asterisk-codec-ulaw",
              "asterisk-codec-alaw", "asterisk-bridge-simple"}
    assert wanted <= set(index)
    for name, st in index.items():
        assert st["Architecture"] == telephony.arch()
        for group in opkg_sim.parse_depends(st.get("Depends", "")):
            assert any(alt[0] in index for alt in group), "%s needs %s: not in the feed" % (name, group)
        if name.startswith("asterisk-"):
            assert "asterisk" in st["Depends"].split(", ")
    # maintainer-script tools of Debian's control files are no packages here
    assert not {"adduser", "debconf", "perl-base", "libc6", "init-system-helpers"} & set(index)


@needs_root_cache
def test_asterisk_package_is_laid_out_as_openwrt_s(built_feed):
    index = _index(built_feed)
    data = Path(built_feed, index["asterisk"]["Filename"]).read_bytes()
    control, payload = opkg_sim.open_ipk(data)
    names = set(payload.getnames())
    assert {"./usr/sbin/asterisk", "./etc/init.d/asterisk", "./etc/config/asterisk",
            "./etc/asterisk/asterisk.conf", "./etc/asterisk/modules.conf"} <= names
    assert not any("/chan_pjsip.so" in n for n in names)  # in asterisk-pjsip
    # Debian builds with xmldoc: without the documentation its configuration framework gives up
    assert "./usr/share/asterisk/documentation/core-en_US.xml" in names
    # readable by Asterisk running as the user asterisk, as OpenWrt installs them (0644)
    assert payload.getmember("./etc/asterisk/modules.conf").mode == 0o644
    conffiles = opkg_sim._member_text(control, "conffiles").split()  # pylint: disable=protected-access
    assert "/etc/config/asterisk" in conffiles and "/etc/asterisk/pjsip.conf" not in conffiles
    postinst = opkg_sim._member_text(control, "postinst")  # pylint: disable=protected-access
    assert "asterisk:x:385:385:" in postinst and "enable" in postinst
    config = payload.extractfile("./etc/config/asterisk").read().decode()
    assert "option enabled '0'" in config  # off until the user (the container role) switches it on


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
@needs_root_cache
def test_turrisos_image_installs_asterisk_with_its_own_opkg(built_feed, tmp_path):
    import images  # pylint: disable=import-outside-toplevel
    desc = images.build("turrisos")
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(os.path.join(desc["dir"], "rootfs.tar.xz")) as tar:
        tar.extractall(root, numeric_owner=True)  # nosec - our own image
    assert not (root / "usr/bin/python3").exists(), "python3 must not be on a TurrisOS container's PATH"
    distfeeds = (root / "etc/opkg/distfeeds.conf").read_text()
    assert distfeeds == "src/gz %s %s\n" % (telephony.FEED_NAME, telephony.feed_url())
    server, url = feed.serve(built_feed)
    try:
        (root / "etc/opkg/distfeeds.conf").write_text("src/gz %s %s\n" % (telephony.FEED_NAME, url))
        out = subprocess.run(["chroot", str(root), "/bin/sh", "-c",
                              "opkg update && opkg install asterisk-pjsip asterisk-codec-ulaw"
                              " && opkg list-installed && /usr/sbin/asterisk -V"
                              " && grep '^asterisk:' /etc/passwd && /etc/init.d/asterisk enabled && echo enabled"],
                             capture_output=True, text=True, check=False, timeout=300)
        # switched on, the service starts Asterisk as the user asterisk and it answers on its console
        # (in namespaces of its own: no port of the host, nothing left running after the shell)
        started = subprocess.run(
            ["unshare", "--net", "--pid", "--fork", "chroot", str(root), "/bin/sh", "-c",
             "mount -t proc proc /proc && ip link set lo up && uci set asterisk.general.enabled=1"
             " && uci commit asterisk && /etc/init.d/asterisk start && i=0 && until asterisk -rx 'core show version'"
             " 2>/dev/null; do i=$((i+1)); [ $i -lt 30 ] || exit 9; sleep 1; done && ps | grep '[/]usr/sbin/asterisk'"
             " && sleep 2 && /etc/init.d/asterisk running && echo still-running; umount /proc"],
            capture_output=True, text=True, check=False, timeout=120) if shutil.which("unshare") else None
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "asterisk-pjsip - %s" % _index(built_feed)["asterisk-pjsip"]["Version"] in lines
    assert any(line.startswith("Asterisk 2") for line in lines)
    assert "asterisk:x:385:385:asterisk:/var/run/asterisk:/bin/false" in lines and "enabled" in lines
    # not enabled in /etc/config/asterisk: the postinst's start declined, nothing runs
    assert "service not enabled" in out.stderr
    if started is not None:
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:] + (
            root / "var/log/asterisk.log").read_text(errors="replace")[-2000:]
        ps = next(line.split() for line in started.stdout.splitlines() if "/usr/sbin/asterisk" in line)
        assert ps[1] == "asterisk" and "still-running" in started.stdout  # the user asterisk, and it stays up
    auto = (root / "etc/updater/conf.d/opkg-auto.lua").read_text()
    assert "asterisk-pjsip" in auto  # the Turris wrapper told the updater
    shutil.rmtree(root)
