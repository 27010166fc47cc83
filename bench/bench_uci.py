#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""UCI figures, no assertions.

1. parse + write (commit form) of the largest file of the golden corpus, in-process.
2. with ``--inventory FILE --host NAME`` (a simulated router): a no-op ``turris.containers.uci``
   task against that router as a ratio to ``ansible.builtin.ping``, median of ``--runs``.

    python bench/bench_uci.py [--inventory INV --host HOST] [--runs 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".build" / "collections"))  # made by make deps (make collection)
from ansible_collections.turris.containers.plugins.module_utils import _uci  # noqa: E402  pylint: disable=wrong-import-position

CORPUS = ROOT / "tests" / "conformance" / "uci" / "cases"  # the golden libuci corpus in the repository


def parse_write(loops):
    largest = max(CORPUS.glob("*/input"), key=lambda p: p.stat().st_size)
    data = largest.read_bytes()
    start = time.perf_counter()
    for dummy in range(loops):
        _uci.parse(data, "pkg").export(header=False)
    per = (time.perf_counter() - start) / loops
    return {"file": str(largest.parent.name), "bytes": len(data), "parse_write_ms": round(per * 1000, 3)}


def adhoc(inventory, host, module, args):
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    cmd = [str(Path(sys.executable).parent / "ansible"), host, "-i", inventory, "-m", module, "-a", args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit("%s failed: %s%s" % (module, proc.stdout, proc.stderr))
    return took


def router(inventory, host, runs):
    args = json.dumps({"config": "turris_uci_bench", "section": "bench", "type": "bench",
                       "options": {"value": "1", "list": ["a", "b"]}})
    adhoc(inventory, host, "turris.containers.uci", args)  # make it a no-op from now on
    ping = [adhoc(inventory, host, "ansible.builtin.ping", "") for dummy in range(runs)]
    noop = [adhoc(inventory, host, "turris.containers.uci", args) for dummy in range(runs)]
    return {"ping_s": round(statistics.median(ping), 3), "uci_noop_s": round(statistics.median(noop), 3),
            "uci_noop_to_ping": round(statistics.median(noop) / statistics.median(ping), 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory")
    parser.add_argument("--host")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--loops", type=int, default=200)
    opts = parser.parse_args()
    result = {"parse_write": parse_write(opts.loops)}
    if opts.inventory and opts.host:
        result["router"] = router(opts.inventory, opts.host, opts.runs)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
