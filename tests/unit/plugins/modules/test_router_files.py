# SPDX-License-Identifier: GPL-3.0-or-later
"""turris.containers.router_files run as Ansible runs it (a subprocess with JSON arguments) on a
real directory tree: check, apply, check again, apply again; the diff; a secret that never shows;
and every refusal leaving the tree as it was, byte for byte."""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit/plugins
import modrun  # noqa: E402  pylint: disable=wrong-import-position

SECRET = "s3cret-Pa55word"
INIT = "#!/bin/sh /etc/rc.common\nSTART=11\nstart() {\n\treturn 0\n}\n"


def run(args, check=False, diff=True):
    return modrun.run_module("router_files", args, check=check, diff=diff)


def snapshot(root):
    """Every entry under ``root``: kind, mode, owner and content (files) or target (links)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if os.path.islink(p):
                out[p] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[p] = ("dir", st.st_mode & 0o7777)
            else:
                with open(p, "rb") as f:
                    out[p] = ("file", st.st_mode & 0o7777, st.st_uid, st.st_gid, f.read())
    return out


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "router"
    (r / "etc" / "init.d").mkdir(parents=True)
    (r / "etc" / "init.d" / "old").write_text("keep\n")
    return r


def wanted(secret=False):
    files = [{"path": "/etc/init.d/turris-containers-cgroups", "content": INIT, "mode": "0755"},
             {"path": "/etc/turris-containers/cgroup-mounts", "content": "tmpfs /sys/fs/cgroup\n"}]
    if secret:
        files.append({"path": "/etc/turris-containers/secret", "content": SECRET + "\n", "mode": "0600", "secret": True})
    return files


def test_check_apply_check_apply(root):
    before = snapshot(root)
    args = {"files": wanted(secret=True), "root": str(root)}
    r = run(args, check=True)
    assert r["changed"] is True and not r.get("failed"), r
    assert sorted(r["paths"]) == ["/etc/init.d/turris-containers-cgroups", "/etc/turris-containers/cgroup-mounts",
                                  "/etc/turris-containers/secret"]
    assert snapshot(root) == before, "check mode wrote something"
    headers = [d["after_header"] for d in r["diff"]]
    assert "/etc/init.d/turris-containers-cgroups (mode 0755, owner 0:0)" in headers, headers
    assert SECRET not in json.dumps(r), r

    r = run(args)
    assert r["changed"] is True, r
    assert SECRET not in json.dumps(r), r
    script = root / "etc" / "init.d" / "turris-containers-cgroups"
    assert script.read_text() == INIT and (script.stat().st_mode & 0o7777) == 0o755
    assert (root / "etc" / "turris-containers").stat().st_mode & 0o7777 == 0o755
    assert (root / "etc" / "turris-containers" / "cgroup-mounts").read_text() == "tmpfs /sys/fs/cgroup\n"
    assert (root / "etc" / "turris-containers" / "cgroup-mounts").stat().st_mode & 0o7777 == 0o644
    assert (root / "etc" / "turris-containers" / "secret").read_text() == SECRET + "\n"
    assert (root / "etc" / "turris-containers" / "secret").stat().st_mode & 0o7777 == 0o600
    assert (root / "etc" / "init.d" / "old").read_text() == "keep\n"
    applied = snapshot(root)

    for check in (True, False):
        r = run(args, check=check)
        assert r["changed"] is False and r["paths"] == [] and r["diff"] == [], r
        assert snapshot(root) == applied


def test_diff_shows_the_old_and_new_content_and_only_that_a_secret_changed(root):
    run({"files": wanted(secret=True), "root": str(root)})
    files = wanted(secret=True)
    files[1]["content"] = "tmpfs /sys/fs/cgroup\ncgroup /sys/fs/cgroup/memory memory\n"
    files[2]["content"] = "another-" + SECRET
    r = run({"files": files, "root": str(root)}, check=True)
    assert r["changed"] is True and sorted(r["paths"]) == ["/etc/turris-containers/cgroup-mounts",
                                                           "/etc/turris-containers/secret"], r
    by_path = {d["after_header"].split(" ")[0]: d for d in r["diff"]}
    assert by_path["/etc/turris-containers/cgroup-mounts"]["before"] == "tmpfs /sys/fs/cgroup\n"
    assert by_path["/etc/turris-containers/cgroup-mounts"]["after"].endswith("memory memory\n")
    assert by_path["/etc/turris-containers/secret"]["after"] == "(secret content, changed, not shown)\n"
    assert SECRET not in json.dumps(r)


def test_a_mode_or_owner_change_alone_is_a_change(root):
    args = {"files": wanted(), "root": str(root)}
    run(args)
    script = root / "etc" / "init.d" / "turris-containers-cgroups"
    os.chmod(str(script), 0o644)
    r = run(args)
    assert r["changed"] is True and r["paths"] == ["/etc/init.d/turris-containers-cgroups"], r
    assert script.stat().st_mode & 0o7777 == 0o755
    os.chown(str(script), 1000, 1000)
    r = run(args)
    assert r["changed"] is True and (script.stat().st_uid, script.stat().st_gid) == (0, 0), r
    assert run(args)["changed"] is False


def test_a_link_to_a_file_in_root_is_followed_and_kept(root):
    target = root / "etc" / "real-list"
    target.write_text("old\n")
    os.symlink("real-list", str(root / "etc" / "list"))
    r = run({"files": [{"path": "/etc/list", "content": "new\n"}], "root": str(root)})
    assert r["changed"] is True, r
    assert os.path.islink(str(root / "etc" / "list")) and target.read_text() == "new\n"


BAD = [
    ({"path": "etc/relative", "content": "x"}, "files[0].path", "an absolute path inside root"),
    ({"path": "/etc/../../escape", "content": "x"}, "files[0].path", '".." components'),
    ({"path": "/etc/new\nline", "content": "x"}, "files[0].path", "control character"),
    ({"path": "/etc/dir/", "content": "x"}, "files[0].path", "an absolute path inside root"),
    ({"path": "/etc/x", "content": "x", "mode": "rwxr-xr-x"}, "files[0].mode", "an octal mode such as 0644"),
    ({"path": "/etc/x", "content": "x", "mode": "01777777"}, "files[0].mode", "an octal mode such as 0644"),
    ({"path": "/etc/x", "content": "x", "owner": -1}, "files[0].owner", "a numeric id"),
    ({"path": "/etc/init.d", "content": "x"}, "files[0].path", "regular file"),
    ({"path": "/escape/passwd", "content": "x"}, "files[0].path", "resolves (through a symbolic link)"),
]


@pytest.mark.parametrize("bad,field,allowed", BAD, ids=[b[1] + ":" + str(b[0].get("path")) + str(b[0].get("mode", "")) for b in BAD])
def test_bad_input_is_refused_naming_it_and_nothing_is_written(root, tmp_path, bad, field, allowed):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), str(root / "escape"))
    before = snapshot(tmp_path)
    # a good file first: one bad entry writes nothing at all
    files = [{"path": "/etc/good", "content": "good\n"}, bad]
    field = field.replace("files[0]", "files[1]")
    for check in (True, False):
        r = run({"files": files, "root": str(root)}, check=check)
        assert r.get("failed") and r["changed"] is False, r
        assert field in r["msg"] and allowed in r["msg"], r["msg"]
        assert snapshot(tmp_path) == before


def test_duplicate_paths_a_bad_root_and_an_empty_list_are_refused(root, tmp_path):
    before = snapshot(tmp_path)
    cases = [
        ({"files": [{"path": "/etc/a", "content": "1"}, {"path": "//etc/./a", "content": "2"}], "root": str(root)},
         "invalid files[1].path '/etc/a': each path once"),
        ({"files": [{"path": "/etc/a", "content": "1"}], "root": str(root / "missing")}, "an existing directory"),
        ({"files": [], "root": str(root)}, "invalid files []: at least one file"),
    ]
    for args, message in cases:
        r = run(args)
        assert r.get("failed") and r["changed"] is False and message in r["msg"], r
    assert snapshot(tmp_path) == before


def test_a_refused_secret_never_shows(root):
    r = run({"files": [{"path": "/etc/s", "content": SECRET, "mode": "bad", "secret": True}], "root": str(root)})
    assert r.get("failed") and "files[0].mode" in r["msg"], r
    assert SECRET not in json.dumps(r)
    assert not (root / "etc" / "s").exists()
