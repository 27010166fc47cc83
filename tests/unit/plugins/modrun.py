# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module of the collection as Ansible runs it: a subprocess given its JSON arguments on
stdin, the collection importable from .build/collections (``make collection``)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
COLLECTIONS = ROOT / ".build" / "collections"
PACKAGE = "ansible_collections.turris.containers.plugins.modules."


def run_module(module, args, check=False, diff=True, path=(), timeout=120, prefix=(), tmpdir=None, env=None):
    """The module's JSON result. ``module`` is a module's name in the collection (``uci``) or a
    dotted path; ``path`` directories go first on PATH (the simulator's tools); ``prefix`` goes
    before the interpreter (e.g. ``setpriv`` to run as another user); ``tmpdir`` is Ansible's
    remote temporary directory (``_ansible_tmpdir``); ``env`` holds extra environment variables
    (e.g. ``WGETRC``), set over this process's own."""
    if "." not in module:
        module = PACKAGE + module
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    if tmpdir is not None:
        payload["_ansible_tmpdir"] = str(tmpdir)
    extra = env or {}
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    env.update(extra)
    if path:
        env["PATH"] = ":".join([str(p) for p in path] + [env.get("PATH", "/usr/bin:/bin")])
    proc = subprocess.run(list(prefix) + [sys.executable, "-m", module], input=json.dumps({"ANSIBLE_MODULE_ARGS": payload}),
                          capture_output=True, text=True, env=env, timeout=timeout, check=False, cwd=str(COLLECTIONS))
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("module printed no JSON: %s %s" % (proc.stdout, proc.stderr))
