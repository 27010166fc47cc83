#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench`: figures, no assertions. Prints a table and writes bench/results.json.

Each row is a function below, run against simulated routers of a fleet of its own, which
is removed afterwards. Add rows by adding functions to ROWS.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sim"))
import common  # noqa: E402  pylint: disable=wrong-import-position
import turris_sim  # noqa: E402

env = common.env
timed = common.timed

VENV_BIN = Path(sys.executable).parent
SIM = [sys.executable, str(ROOT / "tests" / "sim" / "turris_sim.py")]
FLEET = "bench"
COUNT = int(os.environ.get("BENCH_COUNT", "10"))




def inventory():
    return str(turris_sim.HOME / ("inventory-%s.yml" % FLEET))


def row_fleet_up():
    subprocess.run(SIM + ["down", "--fleet", FLEET], check=True, env=env())
    dt, dummy = timed(SIM + ["up", "--fleet", FLEET, "--count", str(COUNT), "--board", "mixed"])
    return {"name": "sim up, %d routers (base cached)" % COUNT, "seconds": round(dt, 2)}


def row_ping():
    dt, dummy = timed([str(VENV_BIN / "ansible"), "-i", inventory(), "all", "-m", "ansible.builtin.ping", "-f", "10"])
    return {"name": "ansible -m ping, %d routers" % COUNT, "seconds": round(dt, 2)}


def row_setup():
    dt, dummy = timed([str(VENV_BIN / "ansible"), "-i", inventory(), "all", "-m", "ansible.builtin.setup", "-f", "10"])
    return {"name": "ansible -m setup, %d routers" % COUNT, "seconds": round(dt, 2)}


def row_site():
    dt, dummy = timed([str(VENV_BIN / "ansible-playbook"), "-i", inventory(), "playbooks/site.yml", "-f", "10"])
    return {"name": "site.yml, %d routers" % COUNT, "seconds": round(dt, 2)}


def row_uci():
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_uci  # pylint: disable=import-outside-toplevel
    pw = bench_uci.parse_write(200)
    r = bench_uci.router(inventory(), "%s-2" % FLEET, 5)
    return [{"name": "uci parse+write %s (%d bytes)" % (pw["file"], pw["bytes"]), "seconds": pw["parse_write_ms"] / 1000.0},
            {"name": "uci no-op task / ping, one router (ratio)", "seconds": r["uci_noop_s"],
             "ratio_to_ping": r["uci_noop_to_ping"]}]


def row_lxc():
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_lxc  # pylint: disable=import-outside-toplevel
    return bench_lxc.rows(inventory(), "%s-2" % FLEET)


def row_site_fleet():
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_site  # pylint: disable=import-outside-toplevel
    return bench_site.site_rows(COUNT)


def row_docker():
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_docker  # pylint: disable=import-outside-toplevel
    return bench_docker.docker_rows()


ROWS = [row_fleet_up, row_ping, row_setup, row_site, row_uci, row_lxc, row_site_fleet, row_docker]


def main():
    results = []
    try:
        for row in ROWS:
            out = row()
            for r in out if isinstance(out, list) else [out]:
                results.append(r)
                extra = "  (x%.2f of ping)" % r["ratio_to_ping"] if "ratio_to_ping" in r else ""
                if "bytes_fetched" in r:
                    extra += "  (%.1f MB fetched)" % (r["bytes_fetched"] / 1e6)
                for k in ("tasks", "changed", "ssh_per_router"):
                    if k in r:
                        extra += "  %s=%s" % (k, r[k])
                print("%-50s %9.4f s%s" % (r["name"], r["seconds"], extra), flush=True)
            if row is row_lxc:  # the rows after it bring up fleets of their own
                subprocess.run(SIM + ["down", "--fleet", FLEET], env=env(), check=False)
    finally:
        subprocess.run(SIM + ["down", "--fleet", FLEET], env=env(), check=False)
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "cpus": os.cpu_count(), "rows": results}, indent=2) + "\n")
    print("written to %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
