# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module of the collection as Ansible runs it: a subprocess given its JSON arguments on
stdin, the collection importable from .build/collections (``make collection``)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run_module(module, args, check=False, diff=True, path=(), timeout=120):
    """The module's JSON result; ``path`` directories go first on PATH (the simulator's tools)."""
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    env = dict(os.environ, PYTHONPATH=str(ROOT / ".build" / "collections"))
    if path:
        env["PATH"] = ":".join([str(p) for p in path] + [env.get("PATH", "/usr/bin:/bin")])
    proc = subprocess.run([sys.executable, "-m", module], input=json.dumps({"ANSIBLE_MODULE_ARGS": payload}),
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("module printed no JSON: %s %s" % (proc.stdout, proc.stderr))
