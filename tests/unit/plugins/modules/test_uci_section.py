# SPDX-License-Identifier: GPL-3.0-or-later
"""turris.containers.uci and uci_info run as Ansible runs them (a subprocess with JSON
arguments) on real files in temp dirs. Files written are checked byte for byte against what
libuci writes (its canonical format, as in the golden corpus), never with the simulator's
``uci``, which is built on the same library; test_uci_golden.py runs the whole corpus."""
import json
import os
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit/plugins: tinyfs
from tinyfs import tiny_fs  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
import modrun  # noqa: E402  pylint: disable=wrong-import-position

ROOT = Path(__file__).resolve().parents[4]
LXC_AUTO = (b"config global 'global'\n\toption wait_dnsmasq '1'\n\n"
            b"config container\n\toption name 'c1'\n\toption timeout '300'\n\n"
            b"config container\n\toption name 'asterisk'\n")


def run_module(name, args, check=False, diff=True):
    return modrun.run_module(name, args, check=check, diff=diff)


@pytest.fixture
def router(tmp_path):
    conf = tmp_path / "config"
    conf.mkdir()
    (conf / "lxc-auto").write_bytes(LXC_AUTO)
    os.chmod(str(conf / "lxc-auto"), 0o640)
    return {"config_dir": str(conf), "delta_dir": str(tmp_path / "delta")}


def uci(router, **kwargs):
    args = dict(router)
    args.update(kwargs)
    return args


def converge(args):
    """check -> apply -> check -> apply; returns the four results."""
    out = [run_module("uci", args, check=True), run_module("uci", args), run_module("uci", args, check=True),
           run_module("uci", args)]
    for r in out:
        assert not r.get("failed"), r
    assert [r["changed"] for r in out] == [True, True, False, False]
    return out


def test_anonymous_section_by_match_is_updated_in_place(router):
    conf = Path(router["config_dir"])
    args = uci(router, config="lxc-auto", type="container", match={"name": "c1"},
               options={"timeout": 60, "command": ["/bin/true", "it's"]})
    before = (conf / "lxc-auto").read_bytes()
    r = converge(args)
    assert r[0]["diff"]["before"] == "lxc-auto.cfg02cd88=container\nlxc-auto.cfg02cd88.name='c1'\nlxc-auto.cfg02cd88.timeout='300'\n"
    assert r[0]["diff"]["after"] == ("lxc-auto.cfg02cd88=container\nlxc-auto.cfg02cd88.name='c1'\n"
                                     "lxc-auto.cfg02cd88.timeout='60'\nlxc-auto.cfg02cd88.command='/bin/true' 'it'\\''s'\n")
    assert r[0]["section"] == r[1]["section"] == r[3]["section"] == "cfg02cd88"
    assert before != (conf / "lxc-auto").read_bytes()
    assert (conf / "lxc-auto").read_bytes() == (
        b"\nconfig global 'global'\n\toption wait_dnsmasq '1'\n"
        b"\nconfig container\n\toption name 'c1'\n\toption timeout '60'\n"
        b"\tlist command '/bin/true'\n\tlist command 'it'\\''s'\n"
        b"\nconfig container\n\toption name 'asterisk'\n\n")
    assert stat.S_IMODE(os.stat(str(conf / "lxc-auto")).st_mode) == 0o640
    assert sorted(os.listdir(str(conf))) == ["lxc-auto"]


def test_create_named_section_then_replace_and_delete(router):
    conf = Path(router["config_dir"])
    converge(uci(router, config="dockerd", section="globals", type="globals",
                 options={"data_root": "/srv/docker/", "iptables": False, "hosts": ["unix:///var/run/docker.sock"]}))
    assert stat.S_IMODE(os.stat(str(conf / "dockerd")).st_mode) == 0o600
    assert (conf / "dockerd").read_bytes() == (
        b"\nconfig globals 'globals'\n\toption data_root '/srv/docker/'\n\toption iptables '0'\n"
        b"\tlist hosts 'unix:///var/run/docker.sock'\n\n")
    # list edit
    converge(uci(router, config="dockerd", section="globals",
                 options={"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]}))
    assert (conf / "dockerd").read_bytes() == (
        b"\nconfig globals 'globals'\n\toption data_root '/srv/docker/'\n\toption iptables '0'\n"
        b"\tlist hosts 'unix:///var/run/docker.sock'\n\tlist hosts 'tcp://0.0.0.0:2375'\n\n")
    # replace drops what is not listed
    converge(uci(router, config="dockerd", section="globals", replace=True, options={"iptables": True}))
    assert (conf / "dockerd").read_bytes() == b"\nconfig globals 'globals'\n\toption iptables '1'\n\n"
    # delete
    r = converge(uci(router, config="dockerd", section="globals", state="absent"))
    assert r[1]["removed"] == ["globals"] and r[3]["removed"] == []
    assert (conf / "dockerd").read_bytes() == b"\n"  # an empty package, as uci commit leaves it


def test_new_anonymous_section_returns_committed_name(router):
    r = converge(uci(router, config="lxc-auto", type="container", match={"name": "c2"}, options={"timeout": 5}))
    # libuci names the 3rd anonymous section of type container cfg04cd88 (its counter 4: the named
    # section counts too; the hash of "container" gives cd88, as in the golden show_X files)
    assert r[1]["section"] == "cfg04cd88"
    assert (Path(router["config_dir"]) / "lxc-auto").read_bytes() == (
        b"\nconfig global 'global'\n\toption wait_dnsmasq '1'\n"
        b"\nconfig container\n\toption name 'c1'\n\toption timeout '300'\n"
        b"\nconfig container\n\toption name 'asterisk'\n"
        b"\nconfig container\n\toption name 'c2'\n\toption timeout '5'\n\n")


def test_equal_value_in_other_form_is_not_a_change(router):
    conf = Path(router["config_dir"])
    (conf / "lxc-auto").write_bytes(b"# comment kept\nconfig global global\n  option wait_dnsmasq \"1\"; option x 'y'\n")
    before = (conf / "lxc-auto").read_bytes()
    r = run_module("uci", uci(router, config="lxc-auto", section="global", options={"wait_dnsmasq": True, "x": "y"}))
    assert r["changed"] is False and r["changes"] == []
    assert (conf / "lxc-auto").read_bytes() == before


@pytest.mark.parametrize("args,needle", [
    ({"config": "lxc-auto", "section": "bad-name", "type": "x"}, "Invalid section name 'bad-name'"),
    ({"config": "lxc-auto", "section": "global", "options": {"bad.opt": 1}}, "Invalid option name 'bad.opt'"),
    ({"config": "lxc auto", "section": "x", "type": "x"}, "Invalid config (package) name 'lxc auto'"),
    ({"config": "lxc-auto", "section": "x", "type": "a b"}, "Invalid section type 'a b'"),
    ({"config": "nothere", "section": "x", "state": "absent"}, "UCI package 'nothere' does not exist"),
    ({"config": "lxc-auto", "type": "container", "options": {"x": 1}}, "2 sections of type container"),
    ({"config": "lxc-auto", "section": "newsec", "options": {"x": 1}}, "no type was given"),
    ({"config": "lxc-auto", "section": "global", "options": {"x": {"nested": 1}}}, "options.x"),
])
def test_bad_input_fails_and_writes_nothing(router, args, needle):
    conf = Path(router["config_dir"])
    before = (conf / "lxc-auto").read_bytes()
    r = run_module("uci", uci(router, **args))
    assert r.get("failed") is True and needle in r["msg"], r
    assert (conf / "lxc-auto").read_bytes() == before
    assert stat.S_IMODE(os.stat(str(conf / "lxc-auto")).st_mode) == 0o640
    assert sorted(os.listdir(str(conf))) == ["lxc-auto"]


def test_malformed_file_is_reported_and_kept(router):
    conf = Path(router["config_dir"])
    (conf / "lxc-auto").write_bytes(b"config x 'y'\n\toption a 'never closed\n")
    r = run_module("uci", uci(router, config="lxc-auto", section="y", options={"a": "b"}))
    assert r["failed"] is True
    assert "uci: Parse error (EOF with unterminated ') at line 2, byte 24" in r["msg"]
    assert (conf / "lxc-auto").read_bytes() == b"config x 'y'\n\toption a 'never closed\n"


def test_pending_changes_are_never_committed_nor_lost(router):
    conf, delta = Path(router["config_dir"]), Path(router["delta_dir"])
    delta.mkdir()  # what "uci set lxc-auto.global.wait_dnsmasq=0" leaves (libuci's delta format)
    (delta / "lxc-auto").write_bytes(b"lxc-auto.global.wait_dnsmasq='0'\n")
    file_before = (conf / "lxc-auto").read_bytes()
    delta_before = (delta / "lxc-auto").read_bytes()
    r = run_module("uci", uci(router, config="lxc-auto", section="global", options={"dnsmasq_timeout": 30}))
    assert r["failed"] is True and "uncommitted changes" in r["msg"]
    assert r["pending_changes"] == ["lxc-auto.global.wait_dnsmasq='0'"]
    assert (conf / "lxc-auto").read_bytes() == file_before and (delta / "lxc-auto").read_bytes() == delta_before
    # commit=false stages next to them, seeing them as uci show does
    args = uci(router, config="lxc-auto", section="global", options={"dnsmasq_timeout": 30}, commit=False)
    converge(args)
    assert (conf / "lxc-auto").read_bytes() == file_before
    assert (delta / "lxc-auto").read_bytes() == \
        b"lxc-auto.global.wait_dnsmasq='0'\nlxc-auto.global.dnsmasq_timeout='30'\n"
    r = run_module("uci", dict(args, options={"wait_dnsmasq": "0"}), check=True)
    assert r["changed"] is False


def test_secret_options_are_hidden(router):
    r = run_module("uci", uci(router, config="lxc-auto", section="global", options={"password": "s3cr3t"},
                              secret_options=["password"]))
    assert r["changed"] is True
    assert "s3cr3t" not in json.dumps(r)
    assert "s3cr3t" in (Path(router["config_dir"]) / "lxc-auto").read_text()


def test_uci_info(router):
    r = run_module("uci_info", uci(router, config="lxc-auto", type="container"))
    assert [(s["name"], s["ref"], s["options"]["name"]) for s in r["sections"]] == [
        ("cfg02cd88", "@container[0]", "c1"), ("cfg03cd88", "@container[1]", "asterisk")]
    r = run_module("uci_info", uci(router, config="lxc-auto", section="@container[-1]"))
    assert r["section"]["name"] == "cfg03cd88" and r["section"]["index"] == 2
    r = run_module("uci_info", uci(router, config="nothere"))
    assert r["exists"] is False and r["sections"] == []
    r = run_module("uci_info", uci(router, config="lxc-auto", section="@container[x"))
    assert r["failed"] is True and "Invalid section reference" in r["msg"]


def test_full_disk_fails_with_changed_false_and_keeps_the_file(tiny_fs, tmp_path):
    conf = tiny_fs.path
    (conf / "lxc-auto").write_bytes(LXC_AUTO)
    os.chmod(str(conf / "lxc-auto"), 0o640)
    tiny_fs.fill()
    args = {"config_dir": str(conf), "delta_dir": str(tmp_path / "delta"), "config": "lxc-auto",
            "section": "global", "options": {"dnsmasq_timeout": 30}}
    assert run_module("uci", args, check=True)["changed"] is True
    r = run_module("uci", args)
    assert r.get("failed") is True and r["changed"] is False, r
    assert r["msg"] == "UCI package 'lxc-auto' was not changed: cannot write %s: No space left on device." % (
        conf / "lxc-auto")
    assert (conf / "lxc-auto").read_bytes() == LXC_AUTO
    assert stat.S_IMODE(os.stat(str(conf / "lxc-auto")).st_mode) == 0o640
    assert tiny_fs.files() == ["lxc-auto"]


FIREWALL = (b"\nconfig defaults\n\toption input 'ACCEPT'\n"
            b"\nconfig zone\n\toption name 'lan'\n\toption input 'ACCEPT'\n\n")
ZONE_AND_RULES = [
    {"type": "zone", "match": {"name": "lxc"}, "options": {"network": ["lxc"], "input": "REJECT", "forward": "REJECT"}},
    {"type": "rule", "match": {"name": "Allow-lxc-DNS"}, "options": {"src": "lxc", "proto": "tcp udp", "dest_port": 53}},
    {"type": "forwarding", "match": {"src": "lxc", "dest": "wan"}},
    {"section": "extra", "type": "include", "options": {"path": "/etc/firewall.user"}},
]


def test_sections_in_one_call_write_what_the_single_calls_write(router, tmp_path):
    """The batch form: the same bytes as one call a section, check -> apply -> check -> apply,
    the diff and the result naming each section as libuci will."""
    conf = Path(router["config_dir"])
    (conf / "firewall").write_bytes(FIREWALL)
    single = tmp_path / "single"
    single.mkdir()
    (single / "firewall").write_bytes(FIREWALL)
    for entry in ZONE_AND_RULES:
        r = run_module("uci", dict(entry, config="firewall", config_dir=str(single), delta_dir=router["delta_dir"]))
        assert r["changed"] is True, r
    r = converge(uci(router, config="firewall", sections=ZONE_AND_RULES))
    assert (conf / "firewall").read_bytes() == (single / "firewall").read_bytes()
    assert [s["type"] for s in r[1]["sections"]] == ["zone", "rule", "forwarding", "include"]
    assert [s["section"] for s in r[1]["sections"]] == [s["section"] for s in r[3]["sections"]]
    # the names returned are those uci_info (libuci's reading) gives the committed file
    info = run_module("uci_info", {"config": "firewall", "config_dir": router["config_dir"], "delta_dir": router["delta_dir"]})
    names = [s["name"] for s in info["sections"]]
    assert [s["section"] for s in r[1]["sections"]] == names[2:], (r[1]["sections"], names)
    assert "firewall.extra=include\n" in r[0]["diff"]["after"] and r[0]["diff"]["before"] == ""
    assert r[1]["section"] == "extra" and r[1]["options"] == {"path": "/etc/firewall.user"}


def test_sections_see_each_other_and_absent_works_in_a_batch(router):
    conf = Path(router["config_dir"])
    (conf / "firewall").write_bytes(FIREWALL)
    run_module("uci", uci(router, config="firewall", sections=ZONE_AND_RULES))
    r = run_module("uci", uci(router, config="firewall", sections=[
        {"type": "rule", "match": {"name": "Allow-lxc-DNS"}, "state": "absent"},
        {"section": "extra", "options": {"path": "/etc/other"}},
        {"section": "extra", "options": {"reload": True}},
    ]))
    assert r["changed"] is True and not r.get("failed"), r
    text = (conf / "firewall").read_bytes()
    assert b"Allow-lxc-DNS" not in text and b"option path '/etc/other'\n\toption reload '1'" in text
    assert r["removed"] == [r["sections"][0]["section"]]


@pytest.mark.parametrize("sections,needle", [
    ([{"type": "zone", "match": {"name": "ok"}}, {"section": "bad-name", "type": "zone"}],
     "sections[1]: Invalid section name 'bad-name'"),
    ([{"type": "zone", "options": {"ok": 1}}, {"type": "zone", "options": {"bad name": 1}}],
     "sections[1]: options"),
    ([{"type": "zone", "options": {"name": "x\x00y"}}], "sections[0]: options.name"),
    ([{"type": "bad'type"}], "sections[0]: Invalid section type"),
    ([{"match": {"name": "x"}}], "one of the following is required: section, type found in sections"),
    ([{"section": "a", "type": "zone", "match": {"name": "x"}}], "mutually exclusive: section|match found in sections"),
    ([], "Invalid sections []: give at least one section"),
])
def test_one_bad_section_writes_nothing(router, sections, needle):
    conf = Path(router["config_dir"])
    (conf / "firewall").write_bytes(FIREWALL)
    for check in (True, False):
        r = run_module("uci", uci(router, config="firewall", sections=sections), check=check)
        assert r.get("failed") and needle in r["msg"], r
        assert (conf / "firewall").read_bytes() == FIREWALL
    assert sorted(os.listdir(str(conf))) == ["firewall", "lxc-auto"]


def test_sections_and_the_single_form_do_not_mix(router):
    r = run_module("uci", uci(router, config="firewall", section="x", sections=[{"section": "y", "type": "t"}]))
    assert r.get("failed") and "mutually exclusive: sections|section" in r["msg"], r
