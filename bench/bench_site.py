#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""site.yml figures, no assertions: the whole fleet entry point on N simulated routers from fresh
(LXC installed, bridge and firewall zone declared, the demo containers of playbooks/vars/demo.yml
downloaded and started), then again with nothing to do. Per run: wall time, tasks run (ok +
changed, summed over the routers), changed tasks, and SSH round trips per router (ssh executions
counted in -vvv output, ``scp`` transfers included).

A fleet of its own (``ctbench``), removed afterwards. ``site_rows(count)`` returns the rows as
bench/run.py prints them.

    python bench/bench_site.py [COUNT]
"""
import collections
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sim"))
import common  # noqa: E402  pylint: disable=wrong-import-position
import turris_sim  # noqa: E402  pylint: disable=wrong-import-position

_env = common.env

VENV_BIN = Path(sys.executable).parent
SIM = [sys.executable, str(ROOT / "tests" / "sim" / "turris_sim.py")]
FLEET = "ctbench"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
SSH_EXEC = re.compile(r"^<([0-9.]+)> SSH: EXEC (ssh|scp)", re.M)



def _site(inventory, count):
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", inventory, "playbooks/site.yml", "-f", str(count),
           "-e", "@playbooks/vars/demo.yml", "-vvv"]
    t0 = time.monotonic()
    res = subprocess.run(cmd, env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         check=False)
    dt = time.monotonic() - t0
    if res.returncode != 0:
        raise RuntimeError("site.yml failed:\n%s" % res.stdout[-4000:])
    recap = RECAP.findall(res.stdout)
    ssh = collections.Counter(m[0] for m in SSH_EXEC.findall(res.stdout))
    per_router = sorted(ssh.values()) or [0]
    return {
        "seconds": round(dt, 1),
        "tasks": sum(int(r[1]) for r in recap),
        "changed": sum(int(r[2]) for r in recap),
        "ssh_per_router": {"min": per_router[0], "max": per_router[-1],
                           "mean": round(sum(per_router) / float(len(per_router)), 1)},
    }


def site_rows(count=10):
    """site.yml from fresh and the no-op re-run on ``count`` routers (mixed boards)."""
    subprocess.run(SIM + ["down", "--fleet", FLEET], check=True, env=_env(), capture_output=True)
    try:
        subprocess.run(SIM + ["up", "--fleet", FLEET, "--count", str(count), "--board", "mixed"],
                       check=True, env=_env(), capture_output=True)
        inventory = str(turris_sim.HOME / ("inventory-%s.yml" % FLEET))
        rows = []
        for label in ("fresh", "no-op re-run"):
            r = _site(inventory, count)
            rows.append(dict(r, name="site.yml %s, %d routers (demo containers)" % (label, count)))
        return rows
    finally:
        subprocess.run(SIM + ["down", "--fleet", FLEET], env=_env(), check=False, capture_output=True)


def main(argv):
    count = int(argv[1]) if len(argv) > 1 else 10
    for r in site_rows(count):
        print("%-50s %8.1f s  tasks %5d  changed %4d  ssh/router %s"
              % (r["name"], r["seconds"], r["tasks"], r["changed"], r["ssh_per_router"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
