# SPDX-License-Identifier: GPL-3.0-or-later
"""Mitogen for Ansible (the ``mitogen`` package's ``mitogen_linear`` strategy) on the simulated
routers (dropbear, busybox ash, Python 3): the no-op site.yml re-run again with that strategy, beside
the same run with Ansible's own (bench_site). Installed with pip into .build/ (``--target``), never
into the venv; the strategy plugin finds its package next to itself.

If Mitogen does not work with the ansible-core in requirements.txt or against these routers, the
row says why (the first error lines of the run) instead of a time.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import bench_site  # noqa: E402  pylint: disable=wrong-import-position

VERSION = os.environ.get("BENCH_MITOGEN", "0.3.54")
TARGET = ROOT / ".build" / ("mitogen-%s" % VERSION)


def ensure():
    """The strategy plugin directory of Mitogen VERSION (pip installs it once)."""
    strategy = TARGET / "ansible_mitogen" / "plugins" / "strategy"
    if not (strategy / "mitogen_linear.py").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target",
                        str(TARGET), "mitogen==%s" % VERSION], check=True)
    return strategy


def strategy_env():
    # Mitogen checks host keys itself by Ansible's host_key_checking, ahead of the simulator
    # inventory's `-o StrictHostKeyChecking=no` (unverified keys otherwise: "Host key checking is
    # enabled ... unrecognized host key"). Off here for the simulator's throwaway routers only.
    return {"ANSIBLE_STRATEGY_PLUGINS": str(ensure()), "ANSIBLE_STRATEGY": "mitogen_linear",
            "ANSIBLE_HOST_KEY_CHECKING": "False"}


def why(text):
    """The lines that say what went wrong in a failed run's output."""
    lines = [l for l in text.splitlines() if re.search(r"ERROR|FAILED|fatal:|Traceback|Error:", l)]
    return "\n".join(lines[:8])[:1500] or text[-1500:]


def noop_row(fleet, what, vars_args, forks):
    """The no-op re-run with mitogen_linear, on a fleet that site.yml has converged."""
    name = "site.yml no-op re-run, %s, Mitogen %s (mitogen_linear)" % (what, VERSION)
    try:
        row = bench_site.site_run(fleet, name, vars_args, forks, count_trips=False, strategy_env=strategy_env())
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        return {"name": name, "seconds": None, "commit": bench_site.tree_commit(bench_site.tree()),
                "works": False, "error": why(str(exc))}
    row["works"] = True
    row["note"] = ("Mitogen runs each router's modules in one Python process it keeps over one SSH connection: "
                   "no ssh client per task, so the ssh plugin's round-trip count does not apply; bytes over SSH do.")
    return row
