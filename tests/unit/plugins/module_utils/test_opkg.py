# SPDX-License-Identifier: GPL-3.0-or-later
"""_opkg: opkg configuration parsing and editing, updater registration text."""
import pytest

from ansible_collections.turris.containers.plugins.module_utils import _opkg

OPENWRT_CONF = """dest root /
dest ram /tmp
lists_dir ext /var/opkg-lists
option overlay_root /overlay
option check_signature
arch all 1
arch noarch 1
arch arm_cortex-a9_vfpv3-d16 10
"""

CUSTOM = """# add your custom package feeds here
#
# src/gz example_feed_name http://www.example.com/path/to/files
src/gz docker https://old.example.org/docker
"""


def test_parse_openwrt_defaults():
    entries, errors = _opkg.parse_conf(OPENWRT_CONF)
    assert errors == []
    assert [(e.type, e.name, e.value) for e in entries][:3] == [
        ("dest", "root", "/"), ("dest", "ram", "/tmp"), ("lists_dir", "ext", "/var/opkg-lists")]
    assert _opkg.options(OPENWRT_CONF) == {"overlay_root": "/overlay", "check_signature": ""}
    assert _opkg.lists_dir([OPENWRT_CONF]) == "/var/opkg-lists"


def test_comments_and_quotes_and_invalid_lines():
    text = '  # comment\n\nsrc/gz "quoted name" http://x\nnonsense line here\nsrc plain http://y extra\n'
    entries, errors = _opkg.parse_conf(text)
    assert [(e.lineno, e.type, e.name, e.value, e.extra) for e in entries] == [
        (3, "src/gz", "quoted name", "http://x", None), (5, "src", "plain", "http://y", "extra")]
    assert errors == [(4, "nonsense line here")]


def test_commented_feed_is_not_a_feed():
    assert _opkg.feed_entries(CUSTOM, "example_feed_name") == []
    assert [e.value for e in _opkg.feed_entries(CUSTOM, "docker")] == ["https://old.example.org/docker"]


def test_set_feed_replaces_in_place_and_keeps_comments():
    new = _opkg.set_feed(CUSTOM, "docker", "src/gz docker https://new.example.org/docker")
    assert new == CUSTOM.replace("https://old.example.org/docker", "https://new.example.org/docker")


def test_set_feed_appends_and_is_idempotent():
    line = _opkg.feed_line("lxc", "http://192.0.2.1/lxc")
    once = _opkg.set_feed(CUSTOM, "lxc", line)
    assert once == CUSTOM + line + "\n"
    assert _opkg.set_feed(once, "lxc", line) == once


def test_set_feed_adds_missing_final_newline():
    assert _opkg.set_feed("src a http://a", "b", "src/gz b http://b") == "src a http://a\nsrc/gz b http://b\n"


def test_set_feed_drops_later_duplicates():
    text = "src/gz a http://1\nsrc/gz b http://2\nsrc a http://3\n"
    assert _opkg.set_feed(text, "a", "src/gz a http://9") == "src/gz a http://9\nsrc/gz b http://2\n"


def test_remove_feed():
    assert _opkg.remove_feed(CUSTOM, "docker") == CUSTOM.replace("src/gz docker https://old.example.org/docker\n", "")
    assert _opkg.remove_feed(CUSTOM, "absent") == CUSTOM


def test_feed_line_compressed_or_not():
    assert _opkg.feed_line("n", "https://h/p") == "src/gz n https://h/p"
    assert _opkg.feed_line("n", "https://h/p", compressed=False) == "src n https://h/p"


@pytest.mark.parametrize("name", ["my feed", "", "-x", "a/b", 'q"', "x" * 65, "tab\tname"])
def test_bad_names(name):
    with pytest.raises(_opkg.OpkgConfError, match="invalid feed name"):
        _opkg.check_feed_name(name)


@pytest.mark.parametrize("url,message", [
    ("repo.example.org/feed", "with a scheme"),
    ("/srv/feed", "with a scheme"),
    ("gopher://x/feed", "scheme 'gopher'"),
    ("http://x/a b", "with a scheme"),
    ("file://relative/path", "absolute path"),
    (None, "with a scheme"),
])
def test_bad_urls(url, message):
    with pytest.raises(_opkg.OpkgConfError, match=message):
        _opkg.check_feed_url(url)


@pytest.mark.parametrize("url", ["http://192.0.2.1/feed", "https://h:8443/a/b", "ftp://h/x", "file:///srv/feed"])
def test_good_urls(url):
    _opkg.check_feed_url(url)


def test_updater_repository_with_key():
    text = _opkg.updater_repository("docker", "https://h/docker", ["/etc/opkg/keys/b8b13ca0718d2efe"])
    assert 'Repository("docker", "https://h/docker", {' in text
    assert 'verification = "both",' in text
    assert 'pubkey = { "file:///etc/opkg/keys/b8b13ca0718d2efe" },' in text
    assert all(line.startswith(("--", "Repository", "\t", "})")) for line in text.splitlines())


@pytest.mark.parametrize("url,key,expected", [
    ("http://h/f", True, "sig"), ("https://h/f", True, "both"),
    ("http://h/f", False, "none"), ("https://h/f", False, "cert"),
])
def test_updater_verification(url, key, expected):
    assert _opkg.updater_verification(url, key) == expected
    text = _opkg.updater_repository("f", url, ["/k"] if key else [])
    assert 'verification = "%s"' % expected in text
    assert ("pubkey" in text) == key


def test_updater_file_name():
    assert _opkg.updater_file_name("docker") == "turris-containers-feed-docker.lua"
