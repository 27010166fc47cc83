# SPDX-License-Identifier: GPL-3.0-or-later
"""lxc_container run as Ansible runs it (modrun): hostile values per field are refused before
anything is touched, and a full disk ends in a clean failure with the config file intact."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit/plugins: modrun
from modrun import run_module  # noqa: E402  pylint: disable=wrong-import-position

MODULE = "ansible_collections.turris.containers.plugins.modules.lxc_container"
HOSTILE = ["x\n", "x\nlxc.hook.pre-start = /bin/touch /tmp/pwned", "a\rb", "a\x00b", "a\x1bb"]


@pytest.fixture
def tree(tmp_path):
    lxc_path = tmp_path / "lxc"
    lxc_path.mkdir()
    auto = tmp_path / "config" / "lxc-auto"
    auto.parent.mkdir()
    auto.write_text("config container\n\toption name 'other'\n")
    return {"lxc_path": str(lxc_path), "lxc_auto_path": str(auto), "tmp": tmp_path}


def snapshot(root):
    out = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            out[path] = open(path, "rb").read() if os.path.isfile(path) else None
    return out


def hostile_cases():
    base = {"name": "c1", "template": "busybox", "state": "present"}
    for value in HOSTILE:
        yield "name", dict(base, name="c1" + value)
        for field in ("link", "name", "flags", "hwaddr", "ipv4"):
            yield "network." + field, dict(base, network=dict({"link": "br-lan"}, **{field: value}))
        yield "config value", dict(base, config={"lxc.environment": "A" + value})
        yield "config key", dict(base, config={"lxc.environment" + value: "A"})
        for field in ("dist", "release", "arch", "variant"):
            image = {"dist": "Debian", "release": "Bookworm", "server": "images.example"}
            image[field] = "ok" + value
            yield "image." + field, dict(base, template="download", image=image)
        yield "memory_limit", dict(base, memory_limit="64M" + value)
        yield "cpus", dict(base, cpus="0" + value)
        yield "autostart_commands", dict(base, autostart=True, autostart_commands=["true" + value])
        yield "creates", dict(base, state="started", command="true", creates="/x" + value)
    for path in ("../../../../etc", "/", "a/b", ".."):
        for field in ("dist", "release", "arch", "variant"):
            image = {"dist": "Debian", "release": "Bookworm", "server": "images.example"}
            image[field] = path
            yield "image." + field, dict(base, template="download", image=image)


CASES = list(hostile_cases())


@pytest.mark.parametrize("check", [True, False])
@pytest.mark.parametrize("field, args", CASES, ids=["%s-%d" % (c[0], i) for i, c in enumerate(CASES)])
def test_hostile_values_are_refused_before_anything(tree, field, args, check):
    before = snapshot(tree["tmp"])
    res = run_module(MODULE, dict(args, lxc_path=tree["lxc_path"], lxc_auto_path=tree["lxc_auto_path"]), check=check)
    assert res.get("failed"), res
    assert res["changed"] is False and res["actions"] == []
    words = field.split()[-1]
    assert field.split()[0] in res["msg"] or words in res["msg"], (field, res["msg"])
    assert "allowed" in res["msg"] or "control" in res["msg"] or "A-Z" in res["msg"] or "like" in res["msg"] \
        or "size" in res["msg"] or "CPU list" in res["msg"] or "LXC config key" in res["msg"], res["msg"]
    assert snapshot(tree["tmp"]) == before
    assert not os.path.exists("/tmp/pwned")


needs_lxc = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("lxc-create") or not shutil.which("busybox"),
    reason="needs root (to mount a small tmpfs), LXC (apt-get install lxc) and busybox (apt-get install busybox-static)")


@pytest.fixture
def small_disk():
    top = tempfile.mkdtemp(prefix="tlxc-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", top], check=True)
    try:
        yield top
    finally:
        lxc_path = os.path.join(top, "lxc")
        if os.path.isdir(lxc_path):
            for name in os.listdir(lxc_path):
                subprocess.run(["lxc-destroy", "-P", lxc_path, "-n", name, "-f"], capture_output=True, check=False)
        subprocess.run(["umount", "-l", top], check=False)
        shutil.rmtree(top, ignore_errors=True)


def fill(top):
    with open(os.path.join(top, "filler"), "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


@needs_lxc
def test_full_disk_fails_cleanly_and_keeps_the_files(small_disk):
    lxc_path = os.path.join(small_disk, "lxc")
    os.mkdir(lxc_path)
    auto = os.path.join(small_disk, "lxc-auto")
    base = {"name": "tlxc-full", "template": "busybox", "state": "present", "network": {"type": "empty"},
            "lxc_path": lxc_path, "lxc_auto_path": auto}
    res = run_module(MODULE, base)
    assert not res.get("failed") and res["changed"], res
    config = os.path.join(lxc_path, "tlxc-full", "config")
    with open(config, "rb") as f:
        original = f.read()
    # a big value: the new config cannot be written once the disk is full
    res = run_module(MODULE, dict(base, autostart=True))
    assert not res.get("failed"), res
    with open(auto, "rb") as f:
        auto_before = f.read()
    fill(small_disk)
    big = dict(base, config={"lxc.environment": ["X%d=%s" % (i, "y" * 200) for i in range(200)]}, autostart=False)
    res = run_module(MODULE, big)
    assert res.get("failed"), res
    assert res["changed"] is False, res
    assert config in res["msg"] and "No space left" in res["msg"], res["msg"]
    assert "Traceback" not in res["msg"]
    with open(config, "rb") as f:
        assert f.read() == original
    with open(auto, "rb") as f:
        assert f.read() == auto_before
    assert sorted(os.listdir(os.path.join(lxc_path, "tlxc-full"))) == ["config", "rootfs"]
    # the lxc-auto entry alone: also refused cleanly, the file kept
    os.unlink(os.path.join(small_disk, "filler"))
    fill(small_disk)
    res = run_module(MODULE, dict(base, autostart=True, autostart_commands=["x" * 100000]))
    assert res.get("failed") and res["changed"] is False and auto in res["msg"], res
    with open(auto, "rb") as f:
        assert f.read() == auto_before
    assert [n for n in os.listdir(small_disk) if n.startswith(".")] == []
