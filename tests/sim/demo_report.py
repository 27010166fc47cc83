#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Print the fleet report written by playbooks/report.yml as a table, and how to go on."""
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
    cols = ("router", "address", "board", "arch", "opkg arch", "Turris OS", "configured", "containers")

    def containers(r):
        items = sorted((r.get("containers") or {}).values(), key=lambda c: c.get("name", ""))
        return ", ".join("%s (%s: %s, %s, %s)" % (c.get("name"), c.get("flavor"), c.get("image"), c.get("state"),
                                                   c.get("address")) for c in items) or "-"

    rows = [(h, addr.get(h, "?"), r["board"], r["arch"], r["opkg_arch"], r["os_version"],
             ", ".join(r["configured"]) or "-", containers(r)) for h, r in sorted(report.items())]
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *rows)]
    line = "  ".join("%-*s" % (w, c) for w, c in zip(widths, cols))
    print()
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join("%-*s" % (w, c) for w, c in zip(widths, row)))
    key = turris_sim.HOME / "ssh" / "id_ed25519"
    first = rows[0][1] if rows else "ADDRESS"
    print()
    print("The routers keep running. Log in:   ssh -i %s root@%s" % (key, first))
    print("Inventory for your own playbooks:  make -s sim-inventory")
    print("Remove every simulated router:     make sim-down")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
