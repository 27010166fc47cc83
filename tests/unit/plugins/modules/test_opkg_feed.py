# SPDX-License-Identifier: GPL-3.0-or-later
"""opkg_feed run as Ansible runs it (a subprocess with JSON arguments) on real files in a temp root.

``update_cache`` runs the simulator's opkg (tests/sim/rootfs/bin/opkg) against a feed
served on 127.0.0.1 and signed with the golden usign keys.
"""
import gzip
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
MODULE = "ansible_collections.turris.containers.plugins.modules.opkg_feed"
ROOTFS = ROOT / "tests" / "sim" / "rootfs"
sys.path.insert(0, str(ROOT / "tests" / "sim"))
import feed  # noqa: E402  pylint: disable=wrong-import-position

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit/plugins: tinyfs
from tinyfs import tiny_fs  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
import modrun  # noqa: E402  pylint: disable=wrong-import-position

CUSTOMFEEDS = "# add your custom package feeds here\n#\n# src/gz example_feed_name http://www.example.com/path/to/files\n"
OPKG_CONF = "dest root /\ndest ram /tmp\nlists_dir ext /var/opkg-lists\noption overlay_root /overlay\noption check_signature\n"
UPDATER = "etc/updater/conf.d/turris-containers-feed-docker.lua"


def run_module(args, check=False, diff=True):
    return modrun.run_module(MODULE, args, check=check, diff=diff, path=(ROOTFS / "bin", ROOTFS / "usr" / "bin"))


def warning_texts(res):
    """The warnings' text as the module printed them: strings up to ansible-core 2.18, from 2.19
    WarningSummary objects ({"event": {"msg": ...}, ...}) that the controller turns into text."""
    return [w if isinstance(w, str) else w["event"]["msg"] for w in res.get("warnings", [])]


def snapshot(root):
    return dict((str(p.relative_to(root)), p.read_bytes()) for p in sorted(Path(root).rglob("*")) if p.is_file())


def make_router(root):
    (root / "etc" / "opkg" / "keys").mkdir(parents=True)
    (root / "etc" / "opkg.conf").write_text(OPKG_CONF)
    (root / "etc" / "opkg" / "distfeeds.conf").write_text("src/gz turrisos_core https://repo.example.org/core\n")
    (root / "etc" / "opkg" / "customfeeds.conf").write_text(CUSTOMFEEDS)
    (root / "etc" / "turris-version").write_text("7.0.0\n")
    return root


@pytest.fixture
def router(tmp_path):
    return make_router(tmp_path / "router")


@pytest.fixture
def feedkey(conformance_dir):
    return (conformance_dir / "usign" / "feedkey.pub").read_text()


def docker_args(router, key, **kw):
    args = dict(name="docker", url="https://feeds.example.org/docker", key=key, root=str(router))
    args.update(kw)
    return args


def test_check_apply_idempotent(router, feedkey):
    before = snapshot(router)
    res = run_module(docker_args(router, feedkey), check=True)
    assert res["changed"] is True, res
    assert snapshot(router) == before  # check mode writes nothing
    assert len(res["diff"]) == 3
    assert res["fingerprint"] == "b8b13ca0718d2efe"

    res = run_module(docker_args(router, feedkey))
    assert res["changed"] is True and not res.get("failed"), res
    assert (router / "etc/opkg/customfeeds.conf").read_text() == CUSTOMFEEDS + "src/gz docker https://feeds.example.org/docker\n"
    assert res["line"] == "src/gz docker https://feeds.example.org/docker"
    assert res["key_file"] == "/etc/opkg/keys/b8b13ca0718d2efe"
    assert res["check_signature"] is True

    after = snapshot(router)
    for check in (True, False):
        res = run_module(docker_args(router, feedkey), check=check)
        assert res["changed"] is False, res
        assert res["diff"] == []
    assert snapshot(router) == after


def test_key_installed_as_opkg_key_add_does(router, feedkey, conformance_dir):
    run_module(docker_args(router, feedkey))
    keys = sorted(p.name for p in (router / "etc/opkg/keys").iterdir())
    assert keys == ["b8b13ca0718d2efe"]
    # same name and content as the golden keys/ directory made by opkg-key add
    golden = conformance_dir / "usign" / "keys" / "b8b13ca0718d2efe"
    assert (router / "etc/opkg/keys/b8b13ca0718d2efe").read_text() == golden.read_text()
    assert oct((router / "etc/opkg/keys/b8b13ca0718d2efe").stat().st_mode & 0o777) == oct(0o644)


def test_zero_led_fingerprint_and_key_from_file(router, conformance_dir):
    res = run_module(docker_args(router, str(conformance_dir / "usign" / "zeroled.pub")))
    assert res["fingerprint"] == "041671a5f2b9e4f5", res
    assert (router / "etc/opkg/keys/041671a5f2b9e4f5").read_text() == (conformance_dir / "usign" / "zeroled.pub").read_text()


def test_updater_file_on_turris(router, feedkey):
    res = run_module(docker_args(router, feedkey))
    assert res["updater_file"] == "/" + UPDATER
    lua = (router / UPDATER).read_text()
    assert 'Repository("docker", "https://feeds.example.org/docker", {' in lua
    assert 'pubkey = { "file:///etc/opkg/keys/b8b13ca0718d2efe" }' in lua


def test_no_updater_file_on_plain_openwrt(router, feedkey):
    (router / "etc/turris-version").unlink()
    res = run_module(docker_args(router, feedkey))
    assert res["changed"] and res["updater_file"] is None
    assert not (router / "etc/updater").exists()
    res = run_module(docker_args(router, feedkey, updater="always"))
    assert res["changed"] and (router / UPDATER).is_file()


def test_url_change_replaces_line_in_place(router, feedkey):
    run_module(docker_args(router, feedkey))
    res = run_module(docker_args(router, feedkey, url="http://192.0.2.7/docker"))
    assert res["changed"]
    text = (router / "etc/opkg/customfeeds.conf").read_text()
    assert text == CUSTOMFEEDS + "src/gz docker http://192.0.2.7/docker\n"
    assert 'verification = "sig"' in (router / UPDATER).read_text()


def test_file_mode_kept(router, feedkey):
    conf = router / "etc/opkg/customfeeds.conf"
    conf.chmod(0o600)
    run_module(docker_args(router, feedkey))
    assert conf.stat().st_mode & 0o777 == 0o600


def test_absent_removes_line_updater_file_and_key(router, feedkey):
    run_module(docker_args(router, feedkey))
    res = run_module(dict(name="docker", state="absent", key=feedkey, root=str(router)))
    assert res["changed"], res
    assert (router / "etc/opkg/customfeeds.conf").read_text() == CUSTOMFEEDS
    assert not (router / UPDATER).exists()
    assert not (router / "etc/opkg/keys/b8b13ca0718d2efe").exists()
    res = run_module(dict(name="docker", state="absent", root=str(router)))
    assert res["changed"] is False


def test_untrusted_feed_needs_trusted_false_and_warns(router):
    before = snapshot(router)
    res = run_module(dict(name="mirror", url="http://192.0.2.1/m", root=str(router)))
    assert res["failed"] and "has no key" in res["msg"] and "trusted: false" in res["msg"]
    assert snapshot(router) == before
    res = run_module(dict(name="mirror", url="http://192.0.2.1/m", trusted=False, root=str(router)))
    assert res["changed"] and any("no key" in w for w in warning_texts(res))
    assert res["fingerprint"] is None
    assert 'verification = "none"' in (router / "etc/updater/conf.d/turris-containers-feed-mirror.lua").read_text()


def test_check_signature_is_never_removed(router, feedkey):
    run_module(docker_args(router, feedkey))
    run_module(dict(name="mirror", url="http://192.0.2.1/m", trusted=False, root=str(router)))
    assert (router / "etc/opkg.conf").read_text() == OPKG_CONF


def test_same_name_in_two_files_is_an_error_naming_both(router, feedkey):
    before = snapshot(router)
    res = run_module(dict(name="turrisos_core", url="http://192.0.2.1/c", key=feedkey, root=str(router)))
    assert res["failed"]
    assert "/etc/opkg/distfeeds.conf" in res["msg"] and "/etc/opkg/customfeeds.conf" in res["msg"]
    assert snapshot(router) == before


@pytest.mark.parametrize("args,message", [
    (dict(url="repo.example.org/docker"), "with a scheme"),
    (dict(name="my feed"), "invalid feed name 'my feed'"),
    (dict(key="untrusted comment: x\nbm90IGEga2V5Cg=="), "not a usign public key"),
    (dict(key="hello"), "not a usign public key"),
    (dict(key="/nonexistent/feed.pub"), "no such file"),
    (dict(trusted=False), "contradict"),
    (dict(file="customfeeds.conf"), "absolute path"),
])
def test_bad_input_fails_clearly_and_writes_nothing(router, feedkey, args, message):
    before = snapshot(router)
    full = docker_args(router, feedkey)
    full.update(args)
    res = run_module(full)
    assert res.get("failed"), res
    assert message in res["msg"]
    assert snapshot(router) == before


def test_secret_key_is_refused_with_a_hint(router, conformance_dir):
    res = run_module(docker_args(router, (conformance_dir / "usign" / "feedkey.sec").read_text()))
    assert res["failed"] and "secret key" in res["msg"]


def test_uncompressed_feed_is_not_registered_with_updater(router, feedkey):
    res = run_module(docker_args(router, feedkey, compressed=False))
    assert res["line"].startswith("src docker ")
    assert any("src/gz" in w for w in warning_texts(res))
    assert not (router / UPDATER).exists()


# -- update_cache against the simulator's opkg and a served, signed feed ------------------

def make_feed(directory, secret):
    feed.build_ipk(str(directory), {"Package": "hello", "Version": "1.0-1", "Architecture": "all"},
                   files={"/usr/bin/hello": (b"#!/bin/sh\necho hello\n", 0o755)})
    feed.write_index(str(directory), str(secret))


@pytest.fixture
def served(tmp_path):
    servers = []

    def start(directory):
        server, url = feed.serve(str(directory))
        servers.append(server)
        return url
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_update_cache_accepts_signed_feed(router, feedkey, conformance_dir, served, tmp_path):
    make_feed(tmp_path / "feed", conformance_dir / "usign" / "feedkey.sec")
    url = served(tmp_path / "feed")
    (router / "etc/opkg/distfeeds.conf").write_text("")
    res = run_module(docker_args(router, feedkey, url=url, update_cache=True))
    assert not res.get("failed"), res
    assert res["cache_updated"] is True
    assert gzip.decompress((router / "var/opkg-lists/docker").read_bytes()).startswith(b"Package: hello\n")


@pytest.mark.parametrize("case", ["tampered", "unknown key"])
def test_update_cache_fails_on_bad_signature(router, feedkey, conformance_dir, served, tmp_path, case):
    directory = tmp_path / "feed"
    secret = "otherkey.sec" if case == "unknown key" else "feedkey.sec"
    make_feed(directory, conformance_dir / "usign" / secret)
    if case == "tampered":
        index = (directory / "Packages").read_bytes().replace(b"Version: 1.0-1", b"Version: 6.6-6")
        (directory / "Packages.gz").write_bytes(gzip.compress(index))
    url = served(directory)
    (router / "etc/opkg/distfeeds.conf").write_text("")
    res = run_module(docker_args(router, feedkey, url=url, update_cache=True))
    assert res.get("failed"), res
    assert "did not keep the index of feed docker" in res["msg"]
    assert "Signature check failed." in res["stdout"]
    assert not (router / "var/opkg-lists/docker").exists()


def test_full_disk_fails_with_changed_false_and_writes_nothing(tiny_fs, feedkey):
    root = make_router(tiny_fs.path / "router")
    before = snapshot(root)
    tiny_fs.fill()
    res = run_module(docker_args(root, feedkey))
    assert res.get("failed") is True and res["changed"] is False, res
    assert res["msg"] == "cannot write %s: No space left on device; that file is unchanged" % (
        root / "etc" / "opkg" / "customfeeds.conf")
    assert snapshot(root) == before


def test_failure_after_a_written_file_reports_changed_and_names_both(router, feedkey):
    # the key goes in after the feed line: make its directory a file so that write fails
    keys = router / "etc" / "opkg" / "keys"
    keys.rmdir()
    keys.write_text("not a directory\n")
    res = run_module(docker_args(router, feedkey))
    assert res.get("failed") is True and res["changed"] is True, res
    feeds = router / "etc" / "opkg" / "customfeeds.conf"
    assert res["msg"].startswith("cannot write %s/" % keys)
    assert res["msg"].endswith("(already written: %s; run again once the cause is fixed)" % feeds)
    assert "src/gz docker https://feeds.example.org/docker" in feeds.read_text()
