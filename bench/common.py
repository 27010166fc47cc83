# SPDX-License-Identifier: GPL-3.0-or-later
"""What every bench row needs: the environment Ansible runs in, and a timed command."""
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SIM = [sys.executable, str(ROOT / "tests" / "sim" / "turris_sim.py")]


def env():
    e = dict(os.environ)
    e["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    e["PATH"] = "%s:%s" % (VENV_BIN, e.get("PATH", ""))
    e.setdefault("ANSIBLE_COLLECTIONS_PATH", "%s:%s" % (ROOT / ".build" / "collections",
                                                        Path(sys.executable).parents[1] / "lib" / "python3.11" / "site-packages"))
    return e


def timed(cmd):
    """(seconds, output) of a command that must succeed."""
    t0 = time.monotonic()
    res = subprocess.run(cmd, env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         check=False)
    dt = time.monotonic() - t0
    if res.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(map(str, cmd)), res.stdout[-3000:]))
    return dt, res.stdout
