# SPDX-License-Identifier: GPL-3.0-or-later
"""lxc_container against the real LXC of the test machine: the module runs as Ansible runs it
(modrun: a separate Python process given its JSON arguments), containers are real, and every result
is checked from outside with lxc-info / lxc-ls / lxc-cgroup / lxc-attach and the files.

Images come from the test image server (tests/sim/images.py) on 127.0.0.1, over HTTPS with
the private CA named in a wgetrc; the download template's cache goes to a private directory."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "sim"))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit", "plugins"))  # modrun
import images  # noqa: E402  pylint: disable=wrong-import-position
from modrun import run_module  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.turris.containers.plugins.module_utils import _uci as uci  # noqa: E402

MODULE = "lxc_container"
BRIDGE = "tlxcbr0"
BRIDGE_NET = "10.213.0"
TEST_TOP = "/var/lib/turris-lxc-test"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("lxc-create") or not shutil.which("busybox"),
    reason="needs root, LXC (apt-get install lxc) and busybox (apt-get install busybox-static) on the test machine")


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True)


@pytest.fixture(scope="module")
def env():
    """A private lxcpath, the tlxcbr0 bridge, a started image server; all removed afterwards."""
    made_bridge = sh("ip", "link", "show", BRIDGE, check=False).returncode != 0
    if made_bridge:
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", BRIDGE_NET + ".1/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
    os.makedirs(TEST_TOP, exist_ok=True)
    lxc_path = tempfile.mkdtemp(prefix="unit-", dir=TEST_TOP)
    work = tempfile.mkdtemp(prefix="tlxc-unit-")
    # The simulator's Turris OS image under repo.turris.cz/lxc's names, listed for this machine's arch
    # in Debian's naming: what the module asks for when not told an arch and the server is not Turris's.
    image = dict(images.build("turrisos"), dist="Turris_OS", release="stable", arch=images.host_image_arch())
    root = images.make_tree([image], os.path.join(work, "www"))
    server = images.ImageServer(root, "127.0.0.1").start()
    cache = os.path.join(work, "lxc-cache")
    os.mkdir(cache)
    e = {"lxc_path": lxc_path, "work": work, "image": image, "server": server.server,
         "environ": {"WGETRC": server.tls["wgetrc"], "LXC_CACHE_PATH": cache}}
    try:
        yield e
    finally:
        server.stop()
        for name in os.listdir(lxc_path):
            sh("lxc-destroy", "-P", lxc_path, "-n", name, "-f", check=False)
        shutil.rmtree(lxc_path, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        if made_bridge:
            sh("ip", "link", "del", BRIDGE, check=False)


def run(env, args, check=False, diff=True):
    """The module's JSON result (``failed`` set on failure) in the fixture's lxcpath, with its wgetrc
    and download cache; a short stop_timeout and a private lxc-auto unless ``args`` names them."""
    full = dict(args, lxc_path=env["lxc_path"])
    full.setdefault("stop_timeout", 10)
    full.setdefault("lxc_auto_path", os.path.join(env["work"], "config", "lxc-auto"))
    return run_module(MODULE, full, check=check, diff=diff, timeout=300, env=env["environ"])


def state_of(env, name):
    """The state as lxc-info sees it ('absent' when lxc-ls does not list it)."""
    names = sh("lxc-ls", "-P", env["lxc_path"], "-1").stdout.split()
    if name not in names:
        return "absent"
    out = sh("lxc-info", "-P", env["lxc_path"], "-n", name, "-s").stdout
    return out.split(":", 1)[1].strip().lower()


def pid_of(env, name):
    return sh("lxc-info", "-P", env["lxc_path"], "-n", name, "-p").stdout.split(":", 1)[1].strip()


def config_of(env, name):
    with open(os.path.join(env["lxc_path"], name, "config")) as f:
        return f.read()


def keys_of(text):
    keys = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            keys.append(line.split("=", 1)[0].strip())
    return keys


def converge(env, args, expect_state, always_changed=False):
    """check -> apply -> check -> apply, asserting from outside after each step."""
    name = args["name"]
    before = state_of(env, name)
    r = run(env, args, check=True)
    assert not r.get("failed"), r
    assert r["changed"] is True, r
    assert state_of(env, name) == before, "check mode changed the container"
    r = run(env, args)
    assert not r.get("failed"), r
    assert state_of(env, name) == expect_state
    assert r["lxc_container"]["state"] == expect_state
    first = r
    for check in (True, False):
        r = run(env, args, check=check)
        assert not r.get("failed"), r
        assert r["changed"] is always_changed, r
        assert state_of(env, name) == expect_state
    return first


def test_busybox_through_every_state(env):
    name = "tlxc-u-states"
    # the busybox template's rcS waits for DHCP forever, so its init never sees the halt
    # signal: a short stop_timeout lets lxc-stop kill it instead
    base = {"name": name, "template": "busybox", "network": {"link": BRIDGE}, "stop_timeout": 2}
    r = converge(env, dict(base, state="present"), "stopped")
    assert r["actions"][:1] == ["create"] and r["changed"]
    assert r["lxc_container"]["config_path"] == os.path.join(env["lxc_path"], name, "config")
    assert os.path.isdir(r["lxc_container"]["rootfs"])
    r = converge(env, dict(base, state="started"), "running")
    assert r["actions"] == ["start"]
    assert r["lxc_container"]["pid"] == int(pid_of(env, name))
    r = converge(env, dict(base, state="frozen"), "frozen")
    assert r["actions"] == ["freeze"]
    r = converge(env, dict(base, state="started"), "running")
    assert r["actions"] == ["unfreeze"]
    r = converge(env, dict(base, state="stopped"), "stopped")
    assert r["actions"] == ["stop"]
    r = converge(env, dict(base, state="frozen"), "frozen")
    assert r["actions"] == ["start", "freeze"]
    r = converge(env, dict(base, state="stopped"), "stopped")
    assert r["actions"] == ["stop"]
    run(env, dict(base, state="started"))
    pid = pid_of(env, name)
    r = converge(env, dict(base, state="restarted"), "running", always_changed=True)
    assert r["actions"] == ["restart"] and pid_of(env, name) != pid
    r = converge(env, dict(base, state="absent"), "absent")
    assert r["actions"] == ["destroy"]
    assert not os.path.exists(os.path.join(env["lxc_path"], name))


def test_download_network_limits_command_autostart(env):
    name = "tlxc-u-dl"
    image = env["image"]
    args = {"name": name, "template": "download",
            "image": {"dist": image["dist"], "release": image["release"], "server": env["server"]},
            "network": {"link": BRIDGE, "ipv4": BRIDGE_NET + ".21/24", "ipv4_gateway": BRIDGE_NET + ".1",
                        "hwaddr": "02:16:3e:00:00:21"},
            "memory_limit": "96M", "cpu_shares": 512,
            "config": {"lxc.environment": ["A=1", "B=2"]},
            "autostart": True, "autostart_timeout": 7, "autostart_commands": ["true"],
            "state": "started"}
    r = run(env, args, check=True)
    assert r["changed"] and r["actions"] == ["create", "configure", "autostart", "start"], r
    assert state_of(env, name) == "absent"
    assert not os.path.exists(os.path.join(env["work"], "config", "lxc-auto"))
    assert "lxc.net.0.ipv4.address = %s.21/24" % BRIDGE_NET in r["diff"][0]["after"]
    r = converge(env, args, "running")
    assert BRIDGE_NET + ".21" in r["lxc_container"]["ips"]
    # seen from outside: the address, the limits in the cgroup, the config without duplicates
    assert BRIDGE_NET + ".21" in sh("lxc-info", "-P", env["lxc_path"], "-n", name, "-i").stdout.split()
    cg_key = "memory.limit_in_bytes" if "lxc.cgroup.memory.limit_in_bytes" in config_of(env, name) else "memory.max"
    got = sh("lxc-cgroup", "-P", env["lxc_path"], "-n", name, cg_key).stdout.strip()
    assert int(got) == 96 * 1024 * 1024
    keys = keys_of(config_of(env, name))
    singles = [k for k in keys if k not in ("lxc.environment", "lxc.mount.entry")]
    assert len(singles) == len(set(singles)), keys
    assert keys.count("lxc.environment") == 2
    hostname = sh("lxc-attach", "-P", env["lxc_path"], "-n", name, "--", "/bin/hostname").stdout.strip()
    assert hostname == name  # the image's templated /etc/hostname

    # command with a creates guard: runs once
    cmd = dict(args, command="echo made > /root/made; echo out; echo err >&2", creates="/root/made")
    r = run(env, cmd, check=True)
    assert r["changed"] and r["actions"] == ["command"] and "rc" not in r
    r = run(env, cmd)
    assert r["changed"] and (r["rc"], r["stdout"], r["stderr"]) == (0, "out\n", "err\n")
    made = sh("lxc-attach", "-P", env["lxc_path"], "-n", name, "--", "/bin/cat", "/root/made").stdout
    assert made == "made\n"
    for check in (True, False):
        r = run(env, cmd, check=check)
        assert not r["changed"] and "rc" not in r, r

    # the lxc-auto entry, read back with the UCI parser, and the init script starting it
    auto = os.path.join(env["work"], "config", "lxc-auto")
    with open(auto) as f:
        pkg = uci.parse(f.read(), "lxc-auto")
    secs = pkg.find_sections("container", {"name": name})
    assert len(secs) == 1
    assert secs[0].options == {"name": name, "timeout": "7", "command": ["true"], "lxcpath": env["lxc_path"]}
    run(env, dict(args, state="stopped"))
    assert state_of(env, name) == "stopped"
    for path in (os.path.join(ROOT, "tests", "sim", "rootfs", "sbin") + ":", ""):
        # with the simulator's uci, then without uci (the script parses the file itself)
        environ = dict(os.environ, LXC_AUTO_CONFIG=auto, PATH=path + os.environ["PATH"])
        init = [shutil.which("busybox"), "sh", os.path.join(ROOT, "tests/sim/rootfs/etc/rc.common"),
                os.path.join(ROOT, "tests/sim/rootfs/etc/init.d/lxc-auto")]
        p = subprocess.run(init + ["start"], env=environ, capture_output=True, text=True, timeout=60, check=False)
        assert p.returncode == 0, p.stderr
        assert state_of(env, name) == "running"
        p = subprocess.run(init + ["stop"], env=environ, capture_output=True, text=True, timeout=60, check=False)
        assert p.returncode == 0, p.stderr
        assert state_of(env, name) == "stopped"

    # autostart false removes the entry; absent removes the container
    r = run(env, dict(args, state="stopped", autostart=False))
    assert r["changed"] and r["actions"] == ["autostart"]
    with open(auto) as f:
        assert not uci.parse(f.read(), "lxc-auto").find_sections("container", {"name": name})
    run(env, dict(args, state="stopped"))
    r = converge(env, dict(args, state="absent"), "absent")
    with open(auto) as f:
        assert not uci.parse(f.read(), "lxc-auto").find_sections("container")


def test_config_keys_replace_and_diff(env):
    name = "tlxc-u-cfg"
    base = {"name": name, "template": "busybox", "state": "present"}
    run(env, base)
    original = config_of(env, name)
    assert "lxc.mount.entry" in keys_of(original)
    # a duplicated key, as other tools leave it
    with open(os.path.join(env["lxc_path"], name, "config"), "a") as f:
        f.write("lxc.tty.max = 9\nlxc.tty.max = 8\n")
    args = dict(base, config={"lxc.tty.max": 2, "lxc.start.auto": True, "lxc.environment": ["X=1", "Y=2"]})
    r = run(env, args, check=True)
    assert r["changed"] and r["actions"] == ["configure"]
    assert "lxc.tty.max = 2" in r["diff"][0]["after"] and "lxc.tty.max = 9" in r["diff"][0]["before"]
    assert "lxc.tty.max = 9" in config_of(env, name)
    converge(env, args, "stopped")
    keys = keys_of(config_of(env, name))
    assert keys.count("lxc.tty.max") == 1 and keys.count("lxc.environment") == 2
    # lxc itself reads what was written
    assert sh("lxc-info", "-P", env["lxc_path"], "-n", name, "-c", "lxc.tty.max").stdout.split("=")[1].strip() == "2"
    assert "lxc.mount.entry" in keys  # not named, left alone

    replaced = dict(base, replace_config=True, config={"lxc.tty.max": 2, "lxc.signal.halt": "SIGUSR1"})
    r = converge(env, replaced, "stopped")
    assert r["actions"] == ["configure"]
    assert sorted(set(keys_of(config_of(env, name)))) == [
        "lxc.rootfs.path", "lxc.signal.halt", "lxc.tty.max", "lxc.uts.name"]
    # the container still works with what is left
    r = run(env, dict(replaced, state="started", network={"type": "empty"}))
    assert not r.get("failed"), r
    assert state_of(env, name) == "running"
    run(env, dict(base, state="absent"))
    assert state_of(env, name) == "absent"


def test_local_and_none_templates(env):
    image = env["image"]
    local = {"name": "tlxc-u-local", "template": "local", "state": "started", "network": {"type": "empty"},
             "local_image": {"rootfs": os.path.join(image["dir"], "rootfs.tar.xz"),
                             "metadata": os.path.join(image["dir"], "meta.tar.xz")}}
    converge(env, local, "running")
    assert "lxc.signal.halt = SIGUSR1" in config_of(env, "tlxc-u-local")  # from the metadata
    run(env, dict(local, state="absent"))

    rootfs = os.path.join(env["work"], "own-rootfs")
    os.makedirs(rootfs)
    sh("tar", "-xJf", os.path.join(image["dir"], "rootfs.tar.xz"), "-C", rootfs)
    none = {"name": "tlxc-u-none", "template": "none", "rootfs": rootfs, "state": "started",
            "network": {"type": "empty"}, "config": {"lxc.signal.halt": "SIGUSR1", "lxc.autodev": 1,
                                                     "lxc.mount.auto": "cgroup:mixed proc:mixed sys:mixed"}}
    r = converge(env, none, "running")
    assert r["lxc_container"]["rootfs"] == rootfs
    assert "lxc.rootfs.path = dir:%s" % rootfs in config_of(env, "tlxc-u-none")
    run(env, dict(none, state="absent"))
    assert state_of(env, "tlxc-u-none") == "absent"
    assert os.path.isfile(os.path.join(rootfs, "bin", "busybox")), "the user's root filesystem was deleted"


def test_config_change_restarts_and_frozen_is_never_attached(env):
    image = env["image"]
    name = "tlxc-u-restart"
    args = {"name": name, "template": "local", "state": "started", "network": {"type": "empty"},
            "local_image": {"rootfs": os.path.join(image["dir"], "rootfs.tar.xz"),
                            "metadata": os.path.join(image["dir"], "meta.tar.xz")}}
    run(env, args)
    pid = pid_of(env, name)
    changed = dict(args, config={"lxc.environment": "NEW=1"})
    r = run(env, changed)
    assert r["actions"] == ["configure", "restart"] and pid_of(env, name) != pid, r
    env_of_init = sh("lxc-attach", "-P", env["lxc_path"], "-n", name, "--", "/bin/cat", "/proc/1/environ").stdout
    assert "NEW=1" in env_of_init.split("\0")
    assert not run(env, changed)["changed"]
    # present does not restart for a config change
    pid = pid_of(env, name)
    r = run(env, dict(changed, state="present", config={"lxc.environment": "NEW=2"}))
    assert r["actions"] == ["configure"] and pid_of(env, name) == pid
    # frozen: check mode with a command must not hang in lxc-attach, and plans unfreeze + command
    run(env, dict(changed, state="frozen"))
    assert state_of(env, name) == "frozen"
    r = run(env, dict(changed, command="true", creates="/etc/passwd"), check=True)
    assert r["changed"] and r["actions"][0] == "unfreeze" and r["actions"][-1] == "command", r
    assert state_of(env, name) == "frozen"
    run(env, dict(args, state="absent"))
    assert state_of(env, name) == "absent"


def leftovers(env):
    return sorted(os.listdir(env["lxc_path"]))


def test_errors_help_and_leave_nothing_behind(env):
    before = leftovers(env)
    image = env["image"]
    cases = [
        ({"name": "tlxc bad/name", "template": "busybox"}, ["'tlxc bad/name'", "A-Z a-z 0-9"]),
        ({"name": "tlxc-u-err", "template": "busybox", "network": {"link": BRIDGE, "ipv4": "10.1.2.3"}},
         ["'10.1.2.3'", "prefix"]),
        ({"name": "tlxc-u-err", "template": "busybox", "memory_limit": "lots"}, ["'lots'"]),
        ({"name": "tlxc-u-err", "template": "busybox", "config": {"lxc.x": {"a": 1}}}, ["dict"]),
        ({"name": "tlxc-u-err", "template": "busybox", "state": "stopped", "command": "true"}, ["state=started"]),
        ({"name": "tlxc-u-err", "image": {"dist": "busybox", "release": "1", "server": "http://127.0.0.1:1"}},
         ["HTTPS"]),
        # an image the server does not have: the message lists what it has for that dist
        ({"name": "tlxc-u-err", "image": {"dist": image["dist"], "release": "0.1", "server": env["server"]}},
         ["0.1", "the server offers Turris_OS", "%s/%s/default" % (image["release"], image["arch"])]),
        ({"name": "tlxc-u-err", "image": {"dist": "nodist", "release": "1", "server": env["server"]}},
         ["no nodist", "Turris_OS %s" % image["release"]]),
    ]
    for check in (True, False):
        for args, words in cases:
            r = run(env, args, check=check)
            assert r.get("failed") and not r.get("changed"), (args, r)
            for word in words:
                assert word in r["msg"], (word, r["msg"])
            assert leftovers(env) == before, (args, r["msg"])

    # a failed create: the template's own error is in the message, nothing is left
    bad = os.path.join(env["work"], "bad.tar.xz")
    with open(bad, "w") as f:
        f.write("not a tarball\n")
    r = run(env, {"name": "tlxc-u-err", "template": "local", "local_image": {"rootfs": bad, "metadata": bad}})
    assert r.get("failed") and "creating container tlxc-u-err with template local failed" in r["msg"], r
    assert "ERROR" in r["msg"] or "tar" in r["msg"], r["msg"]
    assert leftovers(env) == before

    # a failed start: the LXC log says why (the bridge does not exist)
    args = {"name": "tlxc-u-err", "template": "busybox", "network": {"link": "tlxcnobr0"}}
    r = run(env, args)
    assert r.get("failed") and "starting container tlxc-u-err failed" in r["msg"], r
    assert r["changed"] and r["actions"] == ["create", "configure", "start"]  # created, then failed
    assert "tlxcnobr0" in r["msg"].splitlines()[0], r["msg"]  # the first LXC error says why
    assert state_of(env, "tlxc-u-err") == "stopped"
    # with its own lxc.log.file, the container's log is read (from where this start began)
    own = os.path.join(env["work"], "own.log")
    with open(own, "w") as f:
        f.write("lxc-start tlxc-u-err 20260101000000.000 ERROR    old - an error of an earlier start\n")
    r = run(env, dict(args, config={"lxc.log.file": own, "lxc.log.level": "INFO"}))
    assert r.get("failed") and "tlxcnobr0" in r["msg"].splitlines()[0] and "earlier start" not in r["msg"], r["msg"]
    run(env, dict(args, state="absent"))
    assert leftovers(env) == before
