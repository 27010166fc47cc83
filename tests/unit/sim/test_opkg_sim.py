# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's opkg on a temp root (``-o``), with a signed feed served on 127.0.0.1."""
import fcntl
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ROOTFS = REPO / "tests" / "sim" / "rootfs"
sys.path.insert(0, str(REPO / "tests" / "sim"))
import feed  # noqa: E402  pylint: disable=wrong-import-position

OPKG = str(ROOTFS / "bin" / "opkg")
OPKG_CL = str(ROOTFS / "bin" / "opkg-cl")
ARCH = "powerpc_8548"
OPKG_CONF = ("dest root /\ndest ram /tmp\nlists_dir ext /var/opkg-lists\noption overlay_root /overlay\n"
             "option check_signature\narch all 1\narch noarch 1\narch %s 10\n" % ARCH)
POSTINST = '#!/bin/sh\n[ "$1" = configure ] || exit 1\necho "$PKG_ROOT" > "$IPKG_INSTROOT/var/app.postinst"\n'
PRERM = '#!/bin/sh\necho "$1" > "$IPKG_INSTROOT/var/app.prerm"\n'


def build_feed(directory, secret):
    feed.build_ipk(str(directory), {"Package": "libgreet", "Version": "1.2-1", "Architecture": ARCH},
                   files={"/usr/lib/greet.txt": b"hello from libgreet\n"})
    feed.build_ipk(str(directory), {"Package": "app", "Version": "2.0-3", "Architecture": ARCH,
                                    "Depends": "libgreet (>= 1.0)"},
                   files={"/usr/bin/app": (b"#!/bin/sh\ncat \"$(dirname \"$0\")/../lib/greet.txt\"\n", 0o755),
                          "/etc/config/app": b"config app 'main'\n\toption enabled '1'\n",
                          "/usr/sbin/app-link": ("->", "../bin/app")},
                   scripts={"postinst": POSTINST, "prerm": PRERM}, conffiles=["/etc/config/app"])
    feed.build_ipk(str(directory), {"Package": "broken", "Version": "1", "Architecture": ARCH,
                                    "Depends": "does-not-exist"}, files={"/x": b"x"})
    feed.build_ipk(str(directory), {"Package": "foreign", "Version": "1", "Architecture": "aarch64_cortex-a53"},
                   files={"/y": b"y"})
    feed.write_index(str(directory), str(secret))


@pytest.fixture
def served():
    servers = []

    def start(directory):
        server, url = feed.serve(str(directory))
        servers.append(server)
        return url
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def router(tmp_path, conformance_dir, served):
    directory = tmp_path / "feed"
    build_feed(directory, conformance_dir / "usign" / "feedkey.sec")
    url = served(directory)
    root = tmp_path / "root"
    (root / "etc" / "opkg" / "keys").mkdir(parents=True)
    (root / "var").mkdir()
    (root / "etc" / "opkg.conf").write_text(OPKG_CONF)
    (root / "etc" / "opkg" / "customfeeds.conf").write_text("src/gz test %s\n" % url)
    (root / "etc" / "opkg" / "keys" / "b8b13ca0718d2efe").write_bytes(
        (conformance_dir / "usign" / "feedkey.pub").read_bytes())
    (root / "etc" / "turris-version").write_text("7.0\n")
    return dict(root=root, feed=directory, url=url)


def opkg(root, *args, program=OPKG):
    return subprocess.run([program, "-o", str(root)] + list(args), capture_output=True, text=True,
                          timeout=120, check=False)


def test_version_as_community_general_reads_it():
    res = subprocess.run([OPKG, "--version"], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and res.stdout.startswith("opkg version ")


def test_usage_errors_exit_1(tmp_path):
    assert subprocess.run([OPKG], capture_output=True, check=False).returncode == 1
    res = subprocess.run([OPKG, "-o", str(tmp_path), "frobnicate"], capture_output=True, text=True, check=False)
    assert res.returncode == 1 and "unknown sub-command frobnicate" in res.stderr


def test_update_accepts_the_signed_feed(router):
    res = opkg(router["root"], "update")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "Downloading %s/Packages.gz" % router["url"],
        "Updated list of available packages in /var/opkg-lists/test",
        "Downloading %s/Packages.sig" % router["url"],
        "Signature check passed.",
    ]
    lst = router["root"] / "var" / "opkg-lists" / "test"
    assert gzip.decompress(lst.read_bytes()) == (router["feed"] / "Packages").read_bytes()


def test_update_drops_a_tampered_index(router):
    index = (router["feed"] / "Packages").read_bytes().replace(b"Version: 2.0-3", b"Version: 9.9-9")
    (router["feed"] / "Packages.gz").write_bytes(gzip.compress(index))
    res = opkg(router["root"], "update")
    assert "Signature check failed." in res.stdout and "Remove wrong Signature file." in res.stdout
    assert not (router["root"] / "var" / "opkg-lists" / "test").exists()
    assert not (router["root"] / "var" / "opkg-lists" / "test.sig").exists()
    res = opkg(router["root"], "install", "app")
    assert res.returncode == 255 and "Unknown package 'app'." in res.stdout


def test_update_drops_an_index_signed_by_an_unknown_key(router, conformance_dir):
    feed.write_index(str(router["feed"]), str(conformance_dir / "usign" / "otherkey.sec"))
    res = opkg(router["root"], "update")
    assert "Signature check failed." in res.stdout
    assert not (router["root"] / "var" / "opkg-lists" / "test").exists()


def test_update_counts_unreachable_feeds(router):
    conf = router["root"] / "etc" / "opkg" / "customfeeds.conf"
    conf.write_text(conf.read_text() + "src/gz gone %s/nowhere\n" % router["url"])
    res = opkg(router["root"], "update")
    assert res.returncode == 1
    assert "*** Failed to download the package list from %s/nowhere/Packages.gz" % router["url"] in res.stdout
    assert (router["root"] / "var" / "opkg-lists" / "test").exists()


def test_install_with_dependency_and_postinst(router):
    root = router["root"]
    opkg(root, "update")
    res = opkg(root, "install", "app")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines.index("Installing libgreet (1.2-1) to root...") < lines.index("Installing app (2.0-3) to root...")
    assert "Configuring app." in lines
    # the payload really works
    run = subprocess.run([str(root / "usr" / "bin" / "app")], capture_output=True, text=True, check=False)
    assert run.stdout == "hello from libgreet\n"
    assert os.readlink(root / "usr" / "sbin" / "app-link") == "../bin/app"
    assert (root / "var" / "app.postinst").read_text() == str(root) + "/\n" or \
        (root / "var" / "app.postinst").read_text().strip() == str(root) + "/"
    res = opkg(root, "list-installed")
    assert res.stdout == "app - 2.0-3\nlibgreet - 1.2-1\n"
    status = opkg(root, "status", "app").stdout
    assert "Package: app\nVersion: 2.0-3\nDepends: libgreet (>= 1.0)\nStatus: install user installed\n" in status
    assert "Installed-Time: " in status and "Conffiles:\n /etc/config/app " in status
    assert "Auto-Installed: yes" in opkg(root, "status", "libgreet").stdout
    info = root / "usr" / "lib" / "opkg" / "info"
    assert sorted(p.name for p in info.iterdir() if p.name.startswith("app.")) == [
        "app.conffiles", "app.control", "app.list", "app.postinst", "app.prerm"]
    assert "/usr/bin/app\n" in (info / "app.list").read_text()
    again = opkg(root, "install", "app")
    assert again.returncode == 0 and "Package app (2.0-3) installed in root is up to date." in again.stdout


def test_turris_wrapper_records_for_the_updater(router):
    root = router["root"]
    opkg(root, "update")
    opkg(root, "install", "app")
    auto = root / "etc" / "updater" / "conf.d" / "opkg-auto.lua"
    assert auto.read_text() == 'Install("app")\n'
    opkg(root, "remove", "app")
    assert 'Install("app")' not in auto.read_text()


def test_opkg_cl_does_not_record(router):
    root = router["root"]
    opkg(root, "update", program=OPKG_CL)
    assert opkg(root, "install", "app", program=OPKG_CL).returncode == 0
    assert not (root / "etc" / "updater" / "conf.d" / "opkg-auto.lua").exists()


def test_plain_openwrt_wrapper_does_not_record(router):
    root = router["root"]
    (root / "etc" / "turris-version").unlink()
    opkg(root, "update")
    assert opkg(root, "install", "app").returncode == 0
    assert not (root / "etc" / "updater").exists()


def test_remove_runs_prerm_and_respects_dependents(router):
    root = router["root"]
    opkg(root, "update")
    opkg(root, "install", "app")
    res = opkg(root, "remove", "libgreet")
    assert res.returncode == 255
    assert "print_dependents_warning: Package libgreet is depended upon by packages:" in res.stderr
    assert (root / "usr" / "lib" / "greet.txt").exists()
    res = opkg(root, "remove", "app", "--autoremove")
    assert res.returncode == 0, res.stderr
    assert "Removing package app from root..." in res.stdout
    assert (root / "var" / "app.prerm").read_text() == "remove\n"
    assert not (root / "usr" / "bin" / "app").exists()
    assert not (root / "usr" / "lib" / "greet.txt").exists()  # orphaned dependency went too
    assert opkg(root, "list-installed").stdout == ""
    res = opkg(root, "remove", "app")
    assert res.returncode == 0 and res.stdout == "No packages removed.\n"


def test_modified_conffile_is_kept_on_remove(router):
    root = router["root"]
    opkg(root, "update")
    opkg(root, "install", "app")
    (root / "etc" / "config" / "app").write_text("config app 'main'\n\toption enabled '0'\n")
    res = opkg(root, "remove", "app")
    assert "Not deleting modified conffile" in res.stdout
    assert "enabled '0'" in (root / "etc" / "config" / "app").read_text()


def test_unsatisfiable_dependency_and_unknown_package(router):
    root = router["root"]
    opkg(root, "update")
    res = opkg(root, "install", "broken")
    assert res.returncode == 255
    assert " * satisfy_dependencies_for: Cannot satisfy the following dependencies for broken:" in res.stderr
    assert " * opkg_install_cmd: Cannot install package broken." in res.stderr
    res = opkg(root, "install", "foreign")  # other architecture: not a candidate
    assert res.returncode == 255 and "Unknown package 'foreign'." in res.stdout
    assert opkg(root, "list-installed").stdout == ""


def test_checksum_mismatch_refuses_the_package(router):
    root = router["root"]
    opkg(root, "update")
    ipk = router["feed"] / ("libgreet_1.2-1_%s.ipk" % ARCH)
    data = bytearray(ipk.read_bytes())
    data[-1] ^= 0xFF
    ipk.write_bytes(bytes(data))
    res = opkg(root, "install", "libgreet")
    assert res.returncode == 255
    assert "sha256sum mismatch" in res.stderr
    assert not (root / "usr" / "lib" / "greet.txt").exists()


def test_lock_held_by_another_opkg(router):
    root = router["root"]
    lock = root / "var" / "lock" / "opkg.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)
        res = opkg(root, "list-installed")
    assert res.returncode == 255
    assert "Could not lock %s" % lock in res.stderr
    assert opkg(root, "list-installed").returncode == 0


def test_install_local_ipk_file(router, tmp_path):
    root = router["root"]
    path = feed.build_ipk(str(tmp_path / "local"), {"Package": "solo", "Version": "0.1", "Architecture": "all"},
                          files={"/usr/share/solo": b"solo\n"})
    res = opkg(root, "install", path)
    assert res.returncode == 0, res.stderr
    assert (root / "usr" / "share" / "solo").read_text() == "solo\n"
    assert opkg(root, "list-installed", "so*").stdout == "solo - 0.1\n"


def _community_opkg(args, executable):
    try:
        import ansible_collections.community.general.plugins.modules.opkg  # noqa: F401  pylint: disable=unused-import
    except ImportError:
        pytest.fail("community.general is not importable: install the 'ansible' package (requirements.txt)")
    payload = dict(args)
    # the shim is found on PATH: `executable` of this community.general release splits its directory into letters
    env = dict(os.environ, PATH="%s:%s" % (Path(executable).parent, os.environ.get("PATH", "/usr/bin:/bin")))
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.community.general.plugins.modules.opkg"],
                          input=json.dumps({"ANSIBLE_MODULE_ARGS": payload}),
                          capture_output=True, text=True, timeout=120, check=False, env=env)
    return json.loads(proc.stdout)


def test_community_general_opkg_drives_the_simulator(router, tmp_path):
    root = router["root"]
    shim = tmp_path / "bin" / "opkg"
    shim.parent.mkdir()
    # community.general.opkg cannot pass -o: a shim points the real simulator at the temp root
    shim.write_text('#!/bin/sh\nexec %s -o %s "$@"\n' % (OPKG, root))
    shim.chmod(0o755)
    res = _community_opkg(dict(name=["app"], update_cache=True), shim)
    assert res.get("changed") is True and not res.get("failed"), res
    assert subprocess.run([str(root / "usr" / "bin" / "app")], capture_output=True, text=True,
                          check=False).stdout == "hello from libgreet\n"
    res = _community_opkg(dict(name=["app"]), shim)
    assert res["changed"] is False, res
    res = _community_opkg(dict(name=["app"], state="absent"), shim)
    assert res["changed"] is True, res
    assert not (root / "usr" / "bin" / "app").exists()
    res = _community_opkg(dict(name=["nothere"]), shim)
    assert res.get("failed") and "failed to install nothere" in res["msg"]


def test_architectures_in_file_order_with_priorities():
    sys.path.insert(0, str(ROOTFS / "usr" / "lib" / "turris-sim"))
    try:
        import opkg_sim  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.pop(0)
    conf = "arch all 1\narch noarch 1\narch arm_cortex-a9_vfpv3-d16 10\n"
    archs = opkg_sim.architectures([conf, "arch powerpc_8548 x\n"])
    assert list(archs.items()) == [("all", 1), ("noarch", 1), ("arm_cortex-a9_vfpv3-d16", 10), ("powerpc_8548", 0)]
