#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""After `make demo`: the simulated routers' addresses (from the fleet report's router names) and how to go on."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import turris_sim  # noqa: E402


def main(path):
    with open(path) as fh:
        report = json.load(fh)
    state = turris_sim.load_state()
    addr = {"%s-%d" % (r["fleet"], r["index"]): r["ip"] for r in state["routers"].values()}
    routers = [(h, addr.get(h, "?")) for h in sorted(report)]
    print()
    for host, ip in routers:
        print("%-14s %s" % (host, ip))
    key = turris_sim.HOME / "ssh" / "id_ed25519"
    first = routers[0][1] if routers else "ADDRESS"
    print()
    print("The routers keep running. Log in:   ssh -i %s root@%s" % (key, first))
    print("Inventory for your own playbooks:  make -s sim-inventory")
    print("Remove every simulated router:     make sim-down")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
