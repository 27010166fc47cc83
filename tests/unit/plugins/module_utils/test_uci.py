# SPDX-License-Identifier: GPL-3.0-or-later
"""_uci against the golden libuci corpus (every case), plus its API on real files in temp dirs.

The ``ops`` cases are replayed through the library API alone (no CLI): each batch command loads
the package (file + delta file), applies one operation with delta tracking, and appends the
delta to the file, exactly the cycle ``uci batch`` goes through; the result is written with
``write_package`` and compared byte for byte with what libuci's ``uci commit`` wrote.
"""
import os
import stat

import pytest

from ansible_collections.turris.containers.plugins.module_utils import _files
from ansible_collections.turris.containers.plugins.module_utils import _uci as uci
from conftest import CONFORMANCE

# parametrization needs the case list at collection time (a missing corpus is a collection error)
CASES = sorted(os.listdir(str(CONFORMANCE / "uci" / "cases")))
INVALID = sorted(os.listdir(str(CONFORMANCE / "uci" / "invalid")))


def golden(conformance_dir, case, name, sub="cases"):
    return (conformance_dir / "uci" / sub / case / name).read_bytes().decode("utf-8", "surrogateescape")


def test_corpus_is_complete(conformance_dir):
    assert len(CASES) == len(os.listdir(str(conformance_dir / "uci" / "cases"))) > 100
    assert len(INVALID) == len(os.listdir(str(conformance_dir / "uci" / "invalid"))) > 5


@pytest.mark.parametrize("case", CASES)
def test_show_export_canonical(conformance_dir, case):
    pkg = uci.parse((conformance_dir / "uci" / "cases" / case / "input").read_bytes(), "pkg")
    assert pkg.show() == golden(conformance_dir, case, "show")
    assert pkg.show(extended=False) == golden(conformance_dir, case, "show_X")
    assert pkg.export() == golden(conformance_dir, case, "export")
    assert pkg.export(header=False) == golden(conformance_dir, case, "canonical")
    # what commit writes reads back to the same package
    again = uci.parse(pkg.export(header=False), "pkg")
    assert again.snapshot() == pkg.snapshot()


@pytest.mark.parametrize("case", INVALID)
def test_invalid(conformance_dir, case):
    with pytest.raises(uci.UciParseError) as err:
        uci.parse((conformance_dir / "uci" / "invalid" / case / "input").read_bytes(), "pkg")
    assert "uci: %s\n" % err.value == golden(conformance_dir, case, "error", "invalid")


def _load(name, confdir, savedir):
    """The package as ``uci`` sees it: the file plus the delta file (what ``uci_load`` does)."""
    pkg = uci.parse_file(os.path.join(confdir, name), name)
    data = uci.read_delta_file(os.path.join(savedir, name))
    if data:
        uci.load_delta(pkg, data)
    return pkg


def _batch(confdir, savedir, script):
    """uci batch through the library: one load/operate/save cycle per command."""
    parser = uci._Parser(script)
    while parser.next_line():
        args = []
        while True:
            arg = parser.argument()
            if not arg:
                break
            args.append(arg)
        if not args:
            continue
        cmd = args[0]
        try:
            if cmd == "add":
                pkg = _load(args[1], confdir, savedir)
                pkg.add_section(args[2], track=True)
            else:
                ptr = uci.parse_ptr(args[1])
                pkg = _load(ptr.package, confdir, savedir)
                sec = pkg.lookup(ptr.section)
                if ptr.extended and sec is None and cmd != "set":
                    raise uci.UciError(uci.UCI_ERR_NOTFOUND)
                name = sec.name if sec is not None else ptr.section
                if cmd == "set":
                    pkg.set(name, ptr.option, ptr.value, track=True, sec=sec)
                elif cmd == "add_list":
                    pkg.add_list(name, ptr.option, ptr.value, track=True, sec=sec)
                elif cmd == "del_list":
                    pkg.del_list(name, ptr.option, ptr.value, track=True, sec=sec)
                elif cmd == "delete":
                    pkg.delete(name, ptr.option, track=True, sec=sec)
                elif cmd == "rename":
                    pkg.rename(name, ptr.option, ptr.value, track=True, sec=sec)
                elif cmd == "reorder":
                    pkg.reorder(name, uci.strtoul(ptr.value), track=True, sec=sec)
                else:
                    raise AssertionError("unexpected command in corpus: %s" % cmd)
            uci.save_delta(pkg, savedir, confdir)
        except uci.UciError:
            continue  # uci prints the error and goes on with the next command


@pytest.mark.parametrize("case", CASES)
def test_ops(conformance_dir, tmp_path, case):
    confdir, savedir = tmp_path / "config", tmp_path / "delta"
    confdir.mkdir()
    (confdir / "pkg").write_bytes((conformance_dir / "uci" / "cases" / case / "input").read_bytes())
    _batch(str(confdir), str(savedir), (conformance_dir / "uci" / "cases" / case / "ops").read_bytes())
    pkg = _load("pkg", str(confdir), str(savedir))
    changes = "".join(d.to_change_line("pkg") + "\n" for d in pkg.saved_delta)
    assert changes == golden(conformance_dir, case, "ops.changes")
    assert uci.pending_changes("pkg", [str(savedir)]) == pkg.saved_delta
    uci.write_package(str(confdir), "pkg", pkg.export(header=False))
    assert (confdir / "pkg").read_bytes() == (conformance_dir / "uci" / "cases" / case / "ops.result").read_bytes()
    assert uci.parse_file(str(confdir / "pkg")).show() == golden(conformance_dir, case, "ops.show")


# -- names -----------------------------------------------------------------------------------

def test_anonymous_names_follow_counter_and_type_hash(conformance_dir):
    # show_X of tricky_anon_many: rule/rule/redirect/rule/rule -> counters 1..5
    pkg = uci.parse("config rule\nconfig rule\nconfig redirect\n", "pkg")
    expected = [uci.anonymous_name(1, "rule"), uci.anonymous_name(2, "rule"), uci.anonymous_name(3, "redirect")]
    assert [s.name for s in pkg.sections] == expected
    assert "pkg.%s=rule\n" % uci.anonymous_name(1, "rule") in golden(conformance_dir, "tricky_anon_many", "show_X")


def test_djbhash_signedness_matters_only_for_non_ascii():
    assert uci.djbhash("container", True) == uci.djbhash("container", False)
    assert uci.djbhash(u"kontejner\u00e9", True) != uci.djbhash(u"kontejner\u00e9", False)
    # 32-bit wrap-around then 31-bit mask, computed independently
    h = 5381
    for c in b"x" * 40:
        h = (h * 33 + c) % (1 << 32)
    assert uci.djbhash("x" * 40) == h & 0x7FFFFFFF


def test_lookup_extended_refs():
    pkg = uci.parse("config a 'n'\nconfig b\nconfig a\nconfig a\n", "p")
    assert pkg.lookup("@a[0]").name == "n"
    assert pkg.lookup("@a[-1]") is pkg.sections[3]
    assert pkg.lookup("@[1]") is pkg.sections[1]
    assert pkg.lookup("@a[7]") is None
    for bad in ("@a[x]", "@a", "a[0]", "@a[0]x"):
        with pytest.raises(uci.UciError):
            pkg.lookup(bad)


# -- writing ---------------------------------------------------------------------------------

def test_write_package_keeps_mode_and_leaves_no_temp(tmp_path):
    path = tmp_path / "dockerd"
    path.write_text("config globals 'globals'\n")
    os.chmod(str(path), 0o640)
    pkg = uci.parse_file(str(path))
    pkg.set("globals", "iptables", "0")
    uci.write_package(str(tmp_path), "dockerd", pkg.export(header=False))
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o640
    assert path.read_text() == "\nconfig globals 'globals'\n\toption iptables '0'\n\n"
    assert sorted(os.listdir(str(tmp_path))) == ["dockerd"]


def test_write_package_new_file_is_0600_and_uses_libuci_temp_name(tmp_path, monkeypatch):
    seen = []
    real_rename = os.rename

    def spy(src, dst):
        seen.append(os.path.basename(src))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", spy)
    uci.write_package(str(tmp_path), "lxc-auto", "\nconfig container\n\n")
    assert stat.S_IMODE(os.stat(str(tmp_path / "lxc-auto")).st_mode) == 0o600
    assert len(seen) == 1 and seen[0].startswith(".lxc-auto.uci-") and len(seen[0]) == len(".lxc-auto.uci-") + 6


def test_write_package_failure_names_the_path_and_leaves_no_temp(tmp_path):
    (tmp_path / "dockerd").mkdir()  # not a file: nothing may be renamed over it
    with pytest.raises(_files.FileWriteError) as err:
        uci.write_package(str(tmp_path), "dockerd", "\nconfig x\n\n")
    assert str(err.value) == "cannot write %s: it exists and is not a regular file" % (tmp_path / "dockerd")
    assert sorted(os.listdir(str(tmp_path))) == ["dockerd"] and (tmp_path / "dockerd").is_dir()


def test_delta_roundtrip(tmp_path):
    conf, delta = tmp_path / "c", tmp_path / "d"
    conf.mkdir()
    (conf / "net").write_text("config interface 'lan'\n\toption proto 'dhcp'\n")
    pkg = uci.parse_file(str(conf / "net"))
    pkg.set("lan", "ipaddr", "192.168.1.1\nsecond line's", track=True)
    pkg.add_list("lan", "dns", "1.1.1.1", track=True)
    uci.save_delta(pkg, str(delta), str(conf))
    assert pkg.delta == []
    text = (delta / "net").read_text()
    assert text == "net.lan.ipaddr='192.168.1.1\nsecond line'\\''s'\n|net.lan.dns='1.1.1.1'\n"
    again = uci.parse_file(str(conf / "net"))
    assert uci.load_delta(again, uci.read_delta_file(str(delta / "net"))) == 2
    assert again.get("lan").options == {"proto": "dhcp", "ipaddr": "192.168.1.1\nsecond line's", "dns": ["1.1.1.1"]}
    assert [d.to_change_line("net") for d in uci.pending_changes("net", [str(delta)])] == [
        "net.lan.ipaddr='192.168.1.1\nsecond line'\\''s'", "net.lan.dns+='1.1.1.1'"]
    assert uci.read_delta_file(str(delta / "other")) is None


# -- declarative helpers ---------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    (True, "1"), (False, "0"), (300, "300"), (1.5, "1.5"), ("it's", "it's"),
    (["a", 1, False], ["a", "1", "0"]), (None, None),
])
def test_normalize_value(value, expected):
    assert uci.normalize_value(value) == expected


@pytest.mark.parametrize("value", [{"a": 1}, [["nested"]], "bell\x07"])
def test_normalize_value_rejects(value):
    with pytest.raises(ValueError) as err:
        uci.normalize_value(value, "options.x")
    assert "options.x" in str(err.value)


def test_ensure_section_is_idempotent_and_tracks_uci_changes():
    pkg = uci.parse("config container\n\toption name 'c1'\n\toption timeout '60'\n", "lxc-auto")
    res = uci.ensure_section(pkg, type_="container", match={"name": "c1"},
                             options={"timeout": "300", "command": ["/bin/a", "/bin/b"]}, track=True)
    assert res.changed and not res.created and res.section.name == pkg.sections[0].name
    assert [d.to_change_line("lxc-auto") for d in pkg.delta] == [
        "lxc-auto.%s.timeout='300'" % res.section.name,
        "lxc-auto.%s.command+='/bin/a'" % res.section.name,
        "lxc-auto.%s.command+='/bin/b'" % res.section.name]
    # the list edit keeps the option's place
    pkg.delta = []
    uci.ensure_section(pkg, type_="container", match={"name": "c1"}, options={"command": ["/bin/c"]}, track=True)
    assert list(pkg.sections[0].options) == ["name", "timeout", "command"]
    assert [d.to_change_line("lxc-auto") for d in pkg.delta] == [
        "-lxc-auto.%s.command" % res.section.name, "lxc-auto.%s.command+='/bin/c'" % res.section.name]
    uci.ensure_section(pkg, type_="container", match={"name": "c1"}, options={"command": ["/bin/a", "/bin/b"]})
    pkg.delta = []
    again = uci.ensure_section(pkg, type_="container", match={"name": "c1"},
                               options={"timeout": "300", "command": ["/bin/a", "/bin/b"]}, track=True)
    assert not again.changed and pkg.delta == []


def test_ensure_section_replace_keeps_match_and_creates_with_match():
    pkg = uci.parse("config container\n\toption name 'c1'\n\toption extra 'x'\n", "p")
    res = uci.ensure_section(pkg, type_="container", match={"name": "c1"}, options={"timeout": "1"}, replace=True)
    assert res.section.options == {"name": "c1", "timeout": "1"}
    new = uci.ensure_section(pkg, type_="container", match={"name": "c2"}, options={})
    assert new.created and new.section.options == {"name": "c2"} and new.section.anonymous
    with pytest.raises(ValueError):
        uci.ensure_section(pkg, type_="container")  # two containers now: ambiguous


def test_remove_section_and_options():
    pkg = uci.parse("config c\n\toption name 'a'\nconfig c\n\toption name 'a'\nconfig c 'k'\n\toption x '1'\n", "p")
    res = uci.remove_section(pkg, type_="c", match={"name": "a"})
    assert res.changed and len(res.removed) == 2 and [s.name for s in pkg.sections] == ["k"]
    res = uci.remove_section(pkg, name="k", options=["x", "missing"])
    assert res.changed and pkg.get("k").options == {}
    assert not uci.remove_section(pkg, name="nothere").changed


def test_list_edit_keeps_option_position():
    pkg = uci.parse("config c 'x'\n\tlist l 'a'\n\toption o '1'\n", "p")
    res = uci.ensure_section(pkg, name="x", options={"l": ["b", "c"]}, track=True)
    assert res.changed
    assert pkg.export(header=False) == "\nconfig c 'x'\n\tlist l 'b'\n\tlist l 'c'\n\toption o '1'\n\n"
    assert [d.to_delta_line("p") for d in pkg.delta] == ["-p.x.l\n", "|p.x.l='b'\n", "|p.x.l='c'\n"]
