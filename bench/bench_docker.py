#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Docker role figures, no assertions: the role's run time on a fresh router (packages from the
feed, daemon start, image load, a container run) and again with nothing to do, per board.

A fleet of its own (``benchdk``: a Turris 1.x and an Omnia), removed afterwards. Rows as
bench/run.py prints them: ``docker_rows()`` (one per board and run), ``row_docker()`` (one
summary row, the per-router figures under ``routers``).

    python bench/bench_docker.py
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sim"))
sys.path.insert(0, str(ROOT / "tests" / "integration" / "docker"))
import common  # noqa: E402  pylint: disable=wrong-import-position
import turris_sim  # noqa: E402  pylint: disable=wrong-import-position
import verify_image  # noqa: E402  pylint: disable=wrong-import-position

_env = common.env
_timed = common.timed

VENV_BIN = Path(sys.executable).parent
SIM = [sys.executable, str(ROOT / "tests" / "sim" / "turris_sim.py")]
FLEET = "benchdk"
BOARDS = ("turris1x", "omnia")

# What the molecule scenario does for real routers' "external storage": the data root on the
# router's tmpfs (the simulated root is an overlayfs, which overlay2 cannot sit on).
PLAYBOOK = """---
# OpenWrt's base-files ship /etc/hosts; a simulated router without it makes every dockerd start
# (the daemon, and the libnetwork hook of each container) wait 2 x 5 s on DNS for "localhost".
- name: Simulator gap
  hosts: turris
  gather_facts: false
  tasks:
    - name: Give the router OpenWrt's /etc/hosts when the simulator did not
      ansible.builtin.copy:
        dest: /etc/hosts
        content: "127.0.0.1 localhost\\n::1 localhost ip6-localhost ip6-loopback\\n"
        mode: "0644"
        force: false

- name: Docker role bench
  hosts: turris
  gather_facts: false
  roles:
    - role: turris.containers.bootstrap
    - role: turris.containers.docker
      vars:
        docker_feed_url: "{{ tsim_docker_feed_url | default('') }}"
        docker_feed_key: "{{ tsim_docker_feed_key | default('') }}"
        docker_data_root: /tmp/docker/
        docker_verify_image: "%(image)s"
"""




def docker_rows():
    """Fresh and no-op run time of the docker role, one router at a time."""
    rows = []
    subprocess.run(SIM + ["down", "--fleet", FLEET], check=True, env=_env(), capture_output=True)
    try:
        subprocess.run(SIM + ["up", "--fleet", FLEET, "--count", str(len(BOARDS)), "--board", "mixed"],
                       check=True, env=_env(), capture_output=True)
        inventory = str(turris_sim.HOME / ("inventory-%s.yml" % FLEET))
        with tempfile.TemporaryDirectory(prefix="bench-docker-") as tmp:
            image = os.path.join(tmp, "verify-image.tar")
            verify_image.build(image)
            playbook = os.path.join(tmp, "docker.yml")
            with open(playbook, "w") as fh:
                fh.write(PLAYBOOK % {"image": image})
            for index, board in enumerate(BOARDS, start=1):
                host = "%s-%d" % (FLEET, index)
                for run in ("fresh", "no-op"):
                    dt, dummy = _timed([str(VENV_BIN / "ansible-playbook"), "-i", inventory, "-l", host, playbook])
                    rows.append({"name": "docker role, %s, %s" % (board, run), "seconds": round(dt, 2)})
    finally:
        subprocess.run(SIM + ["down", "--fleet", FLEET], env=_env(), check=False, capture_output=True)
    return rows


def row_docker():
    """One row for bench/run.py: the fresh runs' total, each router's figures under ``routers``."""
    rows = docker_rows()
    return {"name": "docker role, fresh, %s" % " + ".join(BOARDS),
            "seconds": round(sum(r["seconds"] for r in rows if r["name"].endswith("fresh")), 2),
            "routers": rows}


def main():
    rows = docker_rows()
    for r in rows:
        print("%-45s %8.2f s" % (r["name"], r["seconds"]), flush=True)
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
