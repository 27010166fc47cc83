"""The simulator's command line: bad arguments change nothing; a fleet comes up, answers SSH,
and `down` leaves none of its containers, links, mounts or processes behind."""
import json
import os
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
])
def test_bad_arguments_one_line_and_nothing_changed(args, needle):
    before = snapshot()
    res = sim(*args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert snapshot() == before


@needs_root
def test_fleet_up_and_down_leaves_nothing():
    fleet = "pytestsim"
    res = sim("up", "--fleet", fleet, "--count", "2", "--board", "mixed")
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
    veths = ["tsim%02d" % int(state["routers"][n]["ip"].rsplit(".", 1)[1]) for n in names]

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
