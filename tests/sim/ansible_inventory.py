#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible script inventory for a simulated fleet: molecule links to it, so the inventory
exists before the fleet does. The fleet is $TSIM_FLEET, else 'm' + the molecule scenario name."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import turris_sim  # noqa: E402


def fleet_name():
    if os.environ.get("TSIM_FLEET"):
        return os.environ["TSIM_FLEET"]
    scenario = os.environ.get("MOLECULE_SCENARIO_NAME", "sim")
    return ("m" + re.sub(r"[^A-Za-z0-9]", "_", scenario))[:16]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--host":
        print("{}")
        return 0
    inv = turris_sim.inventory_dict(turris_sim.load_state(), fleet_name())
    group = inv["all"]["children"]["turris"]
    out = {
        "_meta": {"hostvars": dict((h, dict(v, **group["vars"])) for h, v in group["hosts"].items())},
        "all": {"children": ["turris"]},
        "turris": {"hosts": sorted(group["hosts"])},
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
