"""The simulator's command line: bad arguments change nothing; a fleet comes up, answers SSH,
and `down` leaves none of its containers, links, mounts or processes behind."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[3] / "tests" / "sim" / "turris_sim.py"
sys.path.insert(0, str(SIM.parent))
import turris_sim  # noqa: E402

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the simulator creates LXC containers and a bridge: run as root")


def sim(*args):
    return subprocess.run([sys.executable, str(SIM)] + list(args), capture_output=True, text=True, check=False)


def snapshot():
    state = turris_sim.state_path()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return (state.read_bytes() if state.exists() else None,
            sorted(p.name for p in turris_sim.LXCPATH.iterdir()) if turris_sim.LXCPATH.exists() else [],
            sorted(line.split(":")[1].strip() for line in links.splitlines() if "tsim" in line))


@needs_root
@pytest.mark.parametrize("args,needle", [
    (["up", "--count", "0"], "invalid --count 0"),
    (["up", "--count", str(turris_sim.MAX_COUNT + 1)], "invalid --count %d" % (turris_sim.MAX_COUNT + 1)),
    (["up", "--count", "1", "--board", "wrt54g"], "unknown --board 'wrt54g'"),
    (["up", "--count", "1", "--fleet", "no spaces"], "invalid fleet name"),
    (["up", "--count", "2", "--no-python", "3"], "invalid --no-python '3': '3' is not a router number"),
    (["up", "--count", "2", "--no-python", "1,omnia"], "invalid --no-python '1,omnia': 'omnia'"),
])
def test_bad_arguments_one_line_and_nothing_changed(args, needle):
    before = snapshot()
    res = sim(*args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert snapshot() == before


def test_no_python_numbers():
    assert turris_sim.parse_no_python("", 3) == set()
    assert turris_sim.parse_no_python("2", 3) == {2}
    assert turris_sim.parse_no_python(" 1, 3 ,", 3) == {1, 3}
    for bad in ("0", "4", "-1", "two", "1;2"):
        with pytest.raises(turris_sim.SimError, match="invalid --no-python"):
            turris_sim.parse_no_python(bad, 3)


def test_python_of_the_base_and_what_a_router_without_python_hides(tmp_path):
    base = tmp_path / "rootfs"
    for rel in ("usr/bin/python3.11", "usr/bin/pydoc3.11", "usr/bin/py3compile", "usr/bin/pyvenv-not-ours",
                "usr/lib/python3.11/os.py", "usr/lib/python3/dist-packages/x.py", "etc/python3.11/sitecustomize.py",
                "usr/bin/busybox", "usr/lib/turris-sim/opkg_sim.py", "usr/lib/x86_64-linux-gnu/libpython-not.so"):
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text("")
    (base / "usr/bin/python3").symlink_to("python3.11")
    assert turris_sim.base_python(base) == ("usr/bin/python3.11", "usr/lib/python3.11")
    assert turris_sim.python_whiteouts(base) == [
        "etc/python3.11", "usr/bin/py3compile", "usr/bin/pydoc3.11", "usr/bin/python3", "usr/bin/python3.11",
        "usr/lib/python3", "usr/lib/python3.11"]
    (base / "usr/bin/python3").unlink()
    (base / "usr/bin/python3.11").unlink()
    with pytest.raises(turris_sim.SimError, match="no python3.X interpreter"):
        turris_sim.base_python(base)


@needs_root
def test_whiteout_is_what_overlayfs_hides(tmp_path):
    upper = tmp_path / "upper"
    (upper / "usr/lib/python3.11").mkdir(parents=True)
    (upper / "usr/lib/python3.11/os.py").write_text("")
    turris_sim.whiteout(upper, "usr/lib/python3.11")
    turris_sim.whiteout(upper, "usr/bin/python3")
    for rel in ("usr/lib/python3.11", "usr/bin/python3"):
        st = os.lstat(upper / rel)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0), rel


def ssh(ip, command):
    key = turris_sim.HOME / "ssh" / "id_ed25519"
    return subprocess.run(["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "root@" + ip, command],
                          capture_output=True, text=True, check=False, timeout=60)


# What Ansible's interpreter discovery tries (INTERPRETER_PYTHON_FALLBACK of ansible-core 2.18) and
# where a user would look.
DISCOVERY = ["python3.13", "python3.12", "python3.11", "python3.10", "python3.9", "python3.8", "/usr/bin/python3",
             "python3", "/usr/libexec/platform-python", "/usr/bin/python", "python"]


@needs_root
def test_fleet_up_and_down_leaves_nothing():
    fleet = "pytestsim"
    res = sim("up", "--fleet", fleet, "--count", "2", "--board", "mixed", "--no-python", "2")
    assert res.returncode == 0, res.stderr
    state = turris_sim.load_state()
    names = [n for n, r in state["routers"].items() if r["fleet"] == fleet]
    assert sorted(state["routers"][n]["board"] for n in names) == ["omnia", "turris1x"]
    for n in names:
        ip = state["routers"][n]["ip"]
        turris_sim.wait_ssh(ip, timeout=5)
    inv = json.loads(subprocess.run([sys.executable, str(SIM.parent / "ansible_inventory.py")],
                                    env=dict(os.environ, TSIM_FLEET=fleet), capture_output=True,
                                    text=True, check=True).stdout)
    assert sorted(inv["turris"]["hosts"]) == ["%s-1" % fleet, "%s-2" % fleet]
    hostvars = inv["_meta"]["hostvars"]
    assert [hostvars["%s-%d" % (fleet, i)]["tsim_python"] for i in (1, 2)] == [True, False]

    # Router 2 is a freshly flashed OpenWrt: no Python to discover, none listed by opkg, none in
    # the standard library's place; the simulated uci, opkg and usign still work (private interpreter).
    by_index = {state["routers"][n]["index"]: state["routers"][n]["ip"] for n in names}
    probe = ("for p in %s; do command -v $p; done; ls -d /usr/lib/python3* 2>/dev/null; echo '==> opkg';"
             " opkg list-installed; echo '==> tools'; uci get system.@system[0].hostname && usign 2>&1 | head -n1"
             " && opkg update >/dev/null && opkg list python3-light" % " ".join(DISCOVERY))
    bare = ssh(by_index[2], probe)
    found, rest = bare.stdout.split("==> opkg\n", 1)
    assert found == "", bare.stdout + bare.stderr
    installed, tools = rest.split("==> tools\n", 1)
    assert "python" not in installed
    assert tools.splitlines()[0] == state["routers"]["tsim-%s-2" % fleet]["hostname"], bare.stdout + bare.stderr
    assert "Usage: usign" in tools and "python3-light - " in tools, bare.stdout + bare.stderr
    full = ssh(by_index[1], "command -v python3; /usr/bin/python3 -c 'import sys; print(sys.version_info[0])'")
    assert full.stdout.split() == ["/usr/bin/python3", "3"], full.stdout + full.stderr
    veths = ["tsim%02d" % int(state["routers"][n]["ip"].rsplit(".", 1)[1]) for n in names]

    # A reboot: files on the root file system stay; /tmp, run-time mounts and processes are gone;
    # init ran the boot scripts again. Router 2 is left alone.
    mark = ("echo kept > /root/kept; echo gone > /tmp/gone; mkdir -p /mnt/x && mount -t tmpfs none /mnt/x;"
            " sleep 600 >/dev/null 2>&1 </dev/null & cat /tmp/sysinfo/board_name; cut -d' ' -f22 /proc/1/stat")
    before = [ssh(by_index[i], mark).stdout.split() for i in (1, 2)]
    res = sim("reboot", "--fleet", fleet, "--router", "1")
    assert res.returncode == 0, res.stderr
    after = ssh(by_index[1], "cat /root/kept; ls /tmp/gone 2>&1; grep -c ' /mnt/x ' /proc/mounts;"
                             " for p in /proc/[0-9]*; do tr '\\0' ' ' <$p/cmdline 2>/dev/null; echo; done | grep -c '^sleep 600';"
                             " cat /tmp/sysinfo/board_name; cut -d' ' -f22 /proc/1/stat").stdout.splitlines()
    assert after[0] == "kept" and "No such file" in after[1] and after[2] == "0", after
    # no sleep left; the board files made again at boot; init started anew
    assert after[3] == "0" and after[4] == before[0][0] and after[5] != before[0][1], (before, after)
    assert ssh(by_index[2], "cut -d' ' -f22 /proc/1/stat").stdout.strip() == before[1][1]
    bad = sim("reboot", "--fleet", fleet, "--router", "7")
    assert bad.returncode == 2 and "no router number 7" in bad.stderr

    # schnapps where a Turris has it (the Omnia's btrfs root; not the Turris 1.x): a snapshot, changes,
    # a rollback that takes effect at the next boot and brings the files back as they were.
    assert ssh(by_index[1], "command -v schnapps").returncode != 0
    omnia = by_index[2]
    made = ssh(omnia, "echo v1 > /etc/keepme && schnapps create -t pre 'before provisioning'")
    assert made.stdout.strip() == "Snapshot number 1 created", made.stdout + made.stderr
    ssh(omnia, "echo v2 > /etc/keepme; echo new > /etc/added; mkdir -p /srv/new/dir; rm /etc/banner")
    rolled = ssh(omnia, "schnapps rollback 1")
    assert rolled.stdout.splitlines() == ["Current state saved as snapshot number 2", "Rolled back to snapshot 1"], rolled.stdout
    assert ssh(omnia, "cat /etc/keepme").stdout == "v2\n"  # only at the next boot
    assert sim("reboot", "--fleet", fleet, "--router", "2").returncode == 0
    back = ssh(omnia, "cat /etc/keepme; ls /etc/added /srv/new 2>&1; test -f /etc/banner && echo banner")
    lines = back.stdout.splitlines()
    assert lines[0] == "v1" and "No such file" in lines[1] and "No such file" in lines[2] and lines[3] == "banner", back.stdout
    listed = json.loads(ssh(omnia, "schnapps list -j").stdout)["snapshots"]
    assert [(x["number"], x["type"], x["description"]) for x in listed] == [
        (1, "pre", "before provisioning"), (2, "rollback", "Rollback to snapshot 1")]
    gone = ssh(omnia, "schnapps delete 2 && schnapps delete 7")
    assert gone.stdout.splitlines() == ["Snapshot 2 deleted.", "Snapshot number 7 does not exists!"] and gone.returncode == 3

    res = sim("down", "--fleet", fleet)
    assert res.returncode == 0, res.stderr
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    mounts = Path("/proc/self/mounts").read_text()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    for n, veth in zip(names, veths):
        assert not (turris_sim.LXCPATH / n).exists()
        assert veth + "@" not in links
        assert str(turris_sim.LXCPATH / n) not in mounts
        assert n not in ps
    assert not any(r["fleet"] == fleet for r in turris_sim.load_state()["routers"].values())


def test_a_fleet_of_fifty_routers_is_allowed_and_one_more_is_not():
    """`make bench` brings up 50 routers in one fleet; the limits say so with the numbers."""
    import argparse  # pylint: disable=import-outside-toplevel
    ok = argparse.Namespace(fleet="bench50", count=50, board="mixed", no_python="")
    assert turris_sim.check_up_args(ok) == set()
    with pytest.raises(turris_sim.SimError, match=r"invalid --count 51: a fleet has 1 to 50 routers"):
        turris_sim.check_up_args(argparse.Namespace(fleet="bench50", count=51, board="mixed", no_python=""))


def test_every_router_of_all_fleets_gets_its_own_address_and_veth(monkeypatch):
    """MAX_ROUTERS routers fit the bridge's /24 with distinct addresses and valid host-side veth names
    (Linux: at most 15 characters), and one more is refused by name."""
    monkeypatch.setattr(turris_sim, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout="", stderr=""))
    state = {"routers": {}}
    for i in range(1, turris_sim.MAX_ROUTERS + 1):
        name = "tsim-f%d-%d" % (i % 3, i)
        ip = turris_sim.router_ip(state, name)
        state["routers"][name] = {"ip": ip}
    ips = [r["ip"] for r in state["routers"].values()]
    assert len(set(ips)) == turris_sim.MAX_ROUTERS
    hosts = [int(ip.rsplit(".", 1)[1]) for ip in ips]
    assert all(ip.startswith(turris_sim.NET_PREFIX + ".") for ip in ips)
    assert min(hosts) == turris_sim.FIRST_HOST and max(hosts) < 255 and turris_sim.BRIDGE_ADDR not in ips
    assert all(len("tsim%02d" % h) <= 15 for h in hosts)
    for i in range(turris_sim.MAX_ROUTERS + 1, 250 - turris_sim.FIRST_HOST + 1):
        state["routers"]["tsim-x-%d" % i] = {"ip": turris_sim.router_ip(state, "tsim-x-%d" % i)}
    with pytest.raises(turris_sim.SimError, match="no free address left on %s" % turris_sim.BRIDGE):
        turris_sim.router_ip(state, "tsim-x-full")
