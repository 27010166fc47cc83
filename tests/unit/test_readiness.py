# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/readiness.yml for real over SSH on a mixed simulated fleet (a Turris 1.x, an Omnia, a
MOX and a Turris 1.x without Python): it changes nothing on the routers (files under /etc, /srv and
opkg's database, and the processes, before and after a --check run and a real run), its kernel
verdicts are those kernel_config_info gives per router, it tells which routers can take a plan
given with -e, and its HTML report renders in headless chromium and says what its JSON says."""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "tests" / "sim" / "turris_sim.py"
BIN = Path(sys.executable).parent
FLEET = os.environ.get("TSIM_READINESS_FLEET", "preadiness")
PLAN = {"containers": [{"name": "tools", "flavor": "busybox"}, {"name": "deb", "flavor": "debian"}]}

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("lxc-create") is None,
                       reason="the simulated routers are LXC system containers: run as root with LXC installed "
                              "(`make hostdeps`, tests/sim/install-host-deps.sh)"),
]

# What a router holds that a run could change: every file's checksum and every path under /etc, /srv
# and opkg's database, and the running programs (the SSH sessions of this very read left out).
SNAPSHOT = r"""
find /etc /srv /usr/lib/opkg -xdev 2>/dev/null | sort;
find /etc /srv /usr/lib/opkg -xdev -type f 2>/dev/null | sort | while read -r f; do md5sum "$f"; done;
for d in /proc/[0-9]*; do c=$(cat "$d/comm" 2>/dev/null) || continue; echo "proc $c"; done | sort |
grep -v -E '^proc (sh|ash|bash|sshd|dropbear|find|sort|md5sum|cat|grep|sleep|python3?)$'
"""


def run(argv, **kw):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH="%s:%s" % (ROOT / ".build" / "collections", os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")))
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800, check=False, **kw)


@pytest.fixture(scope="module")
def fleet():
    up = run([sys.executable, str(SIM), "up", "--fleet", FLEET, "--count", "4", "--board", "mixed", "--no-python", "4"])
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    inv = run([sys.executable, str(SIM), "inventory", "--fleet", FLEET])
    assert inv.returncode == 0, inv.stderr
    path = Path(inv.stdout.strip().splitlines()[-1])
    hosts = json.loads(path.read_text().split("\n", 1)[1])["all"]["children"]["turris"]["hosts"]
    yield path, hosts
    if not os.environ.get("TSIM_READINESS_KEEP"):
        run([sys.executable, str(SIM), "down", "--fleet", FLEET])


def snapshot(inventory):
    proc = run([str(BIN / "ansible"), "-i", str(inventory), "turris", "-m", "ansible.builtin.raw", "-a", SNAPSHOT, "-o"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"(\S+) \| (\w+) \| rc=0 (.*)$", line)
        if m:
            found[m.group(1)] = m.group(3)
    return found


def playbook(inventory, out, *extra):
    plan = out.parent / ("plan-%s.json" % out.name)
    plan.write_text(json.dumps(PLAN))
    return run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / "readiness.yml"),
                "-e", "@%s" % plan, "-e", "turris_report_dir=%s" % out] + list(extra))


def recap(stdout):
    """host -> {ok, changed, failed, ...} from the PLAY RECAP."""
    return {m.group(1): dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2)))
            for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", stdout, re.M)}


def load_report_test_helpers():
    spec = importlib.util.spec_from_file_location("fleet_report_test", ROOT / "tests" / "unit" / "plugins" / "filter" / "test_fleet_report.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readiness_changes_nothing_and_says_what_kernel_config_info_says(fleet, tmp_path):
    inventory, hosts = fleet
    no_python = [h for h, v in hosts.items() if not v.get("tsim_python", True)]
    with_python = sorted(set(hosts) - set(no_python))
    assert len(no_python) == 1 and len(with_python) == 3
    before = snapshot(inventory)
    assert sorted(before) == sorted(hosts)

    for mode, out in (("check", tmp_path / "check"), ("run", tmp_path / "report")):
        proc = playbook(inventory, out, *(["--check"] if mode == "check" else []))
        assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
        stats = recap(proc.stdout)
        assert set(hosts) <= set(stats), proc.stdout[-3000:]
        for host in hosts:
            assert stats[host]["failed"] == 0 and stats[host]["unreachable"] == 0, (mode, host, stats)
        # The only changes: the report files written on the controller (delegated to localhost).
        changed = [line for line in proc.stdout.splitlines() if line.startswith("changed:")]
        assert changed and all("-> localhost]" in line for line in changed), changed
        after = snapshot(inventory)
        for host in hosts:
            assert after[host] == before[host], (mode, host, sorted(set(after[host].split('","')) ^ set(before[host].split('","')))[:20])

    report = json.loads((tmp_path / "report" / "fleet-report.json").read_text())
    assert sorted(report) == sorted(hosts)

    # The verdicts kernel_config_info gives on each router with Python, told the router's board as the
    # roles tell it (the board decides whether the Turris 1.x's e500 needs MATH_EMULATION for Debian).
    kci = run([str(BIN / "ansible"), "-i", str(inventory), ":".join(with_python), "-m", "turris.containers.kernel_config_info",
               "-a", "board={{ tsim_board }}", "-o"])
    assert kci.returncode == 0, kci.stdout[-3000:] + kci.stderr[-3000:]
    verdicts = {}
    for line in kci.stdout.splitlines():
        m = re.match(r"(\S+) \| SUCCESS => (\{.*\})$", line)
        if m:
            verdicts[m.group(1)] = json.loads(m.group(2))
    assert sorted(verdicts) == with_python, kci.stdout[-2000:]
    for host in with_python:
        row = report[host]
        assert row["kernel"] == {"ready": verdicts[host]["ready"], "missing": verdicts[host]["missing"]}, host
        assert set(row["kernel"]["ready"]) >= {"lxc", "lxc_debian", "docker"}
        assert row["board"] == hosts[host]["tsim_board"] and row["os_version"]
        assert row["python"] is True and row["storage"]["free_bytes"] > 0 and row["storage"]["path"] == "/srv/lxc"
        assert isinstance(row["packages"], dict) and isinstance(row["containers"], dict)
        # Debian needs lxc_debian (MATH_EMULATION on the Turris 1.x): the plan fits where the kernel has it.
        fits = verdicts[host]["ready"]["lxc_debian"]
        assert row["plan_fits"]["fits"] is fits, (host, row["plan_fits"])
        assert row["plan_fits"]["containers"] == ["tools", "deb"]
        if not fits:
            assert any('"deb"' in p or "deb" in p for p in row["plan_fits"]["problems"]), row["plan_fits"]
            assert any(p.startswith("plan: ") for p in row["problems"])
    assert any(not verdicts[h]["ready"]["lxc_debian"] for h in with_python), "the mixed fleet has a Turris 1.x"
    assert any(verdicts[h]["ready"]["lxc_debian"] for h in with_python)

    bare = report[no_python[0]]
    assert bare["status"] == "no python" and bare["python"] is False and bare["kernel"] == {}
    assert bare["board"] == hosts[no_python[0]]["tsim_board"] and bare["os_version"]
    assert bare["storage"]["free_bytes"] > 0 and bare["plan_fits"]["fits"] is False
    assert any("no Python" in p for p in bare["problems"])

    md = (tmp_path / "report" / "fleet-report.md").read_text()
    for host in hosts:
        assert "| %s |" % host in md
    # Routers with problems first: the one without Python and the Turris 1.x before the others.
    rows = [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| ") and not line.startswith(("| router", "| ---"))]
    troubled = sorted(h for h in hosts if report[h].get("problems"))
    assert rows[:len(troubled)] == troubled

    helpers = load_report_test_helpers()
    page = tmp_path / "report" / "fleet-report.html"
    helpers.check_matches_json(helpers.sections(page.read_text()), report)
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed: `make hostdeps` (tests/sim/install-host-deps.sh) installs it")
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=%s" % (tmp_path / "profile"),
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180, check=False)
    assert dom.returncode == 0 and "<section" in dom.stdout, dom.stderr[-2000:]
    helpers.check_matches_json(helpers.sections(dom.stdout), report)
    for host in with_python:
        text = helpers.sections(dom.stdout)[host][0]
        assert ("fits" if report[host]["plan_fits"]["fits"] else "does not fit") in text
