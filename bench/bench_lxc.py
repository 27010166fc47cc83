# SPDX-License-Identifier: GPL-3.0-or-later
"""Feed and LXC figures on one simulated router, no assertions (rows for bench/run.py).

- ``opkg update`` + ``opkg install lxc lxc-templates``: wall time and bytes fetched from the
  fleet's feed (the sizes of the files opkg reported downloading).
- ``turris.containers.lxc_container``: a Turris OS container from the fleet's image server (as
  repo.turris.cz/lxc names it: Turris_OS/stable/armv7l) through
  created -> started -> absent, and a no-op ``started`` task as a ratio to ``ansible.builtin.ping``.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sim"))
import common  # noqa: E402  pylint: disable=wrong-import-position
import turris_sim  # noqa: E402  pylint: disable=wrong-import-position

_env = common.env



def adhoc(inventory, host, module, args=""):
    cmd = [str(Path(sys.executable).parent / "ansible"), host, "-i", inventory, "-m", module, "-a", args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError("%s %s failed:\n%s%s" % (module, args, proc.stdout[-3000:], proc.stderr[-2000:]))
    return took, proc.stdout


def playbook(inventory, host, *roles):
    import tempfile  # pylint: disable=import-outside-toplevel
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as fh:
        fh.write(json.dumps([{"name": "bench", "hosts": host, "gather_facts": False,
                              "roles": [{"role": r} for r in roles]}]))
    try:
        proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, fh.name],
                              capture_output=True, text=True, env=_env(), check=False)
    finally:
        os.unlink(fh.name)
    if proc.returncode != 0:
        raise RuntimeError("playbook %s failed:\n%s" % (roles, proc.stdout[-3000:]))


def fetched_bytes(opkg_output):
    """Sum the sizes of what opkg says it downloaded from the fleet's HTTP server."""
    total = 0
    for url in re.findall(r"Downloading (\S+)", opkg_output):
        if url.startswith(turris_sim.WWW_URL + "/"):
            path = turris_sim.WWW / url[len(turris_sim.WWW_URL) + 1:]
            if path.exists():
                total += path.stat().st_size
    return total


def rows(inventory, host):
    out = []
    took, text = adhoc(inventory, host, "ansible.builtin.raw",
                       "opkg update && opkg install lxc lxc-templates && mkdir -p /srv/lxc")
    out.append({"name": "opkg update + install lxc, one router", "seconds": round(took, 2),
                "bytes_fetched": fetched_bytes(text)})
    # the cgroup v1 hierarchies LXC needs inside the router (what the namespaces role does)
    playbook(inventory, host, "turris.containers.bootstrap", "turris.containers.namespaces")
    index = subprocess.run(["python3", "-c", "import ssl,urllib.request,sys;"
                            "ctx=ssl.create_default_context(cafile=sys.argv[2]);"
                            "print(urllib.request.urlopen(sys.argv[1], context=ctx).read().decode())",
                            "https://%s/meta/1.0/index-system" % turris_sim.IMAGES_SERVER,
                            str(turris_sim.images.tls_material([turris_sim.BRIDGE_ADDR])["ca"])],
                           capture_output=True, text=True, check=True).stdout
    release = next(line.split(";")[1] for line in index.splitlines() if line.startswith("Turris_OS;"))
    spec = {"name": "bench1", "template": "download",
            "image": {"dist": "Turris_OS", "release": release, "arch": "armv7l"},
            "network": {"link": "br-lan"}}
    cycle = 0.0
    for state in ("present", "started", "absent"):
        took, dummy = adhoc(inventory, host, "turris.containers.lxc_container", json.dumps(dict(spec, state=state)))
        cycle += took
    out.append({"name": "lxc_container Turris_OS present->started->absent", "seconds": round(cycle, 2)})
    adhoc(inventory, host, "turris.containers.lxc_container", json.dumps(dict(spec, state="started")))
    ping = [adhoc(inventory, host, "ansible.builtin.ping")[0] for dummy in range(5)]
    noop = [adhoc(inventory, host, "turris.containers.lxc_container", json.dumps(dict(spec, state="started")))[0]
            for dummy in range(5)]
    adhoc(inventory, host, "turris.containers.lxc_container", json.dumps(dict(spec, state="absent")))
    out.append({"name": "lxc_container no-op started / ping (ratio)", "seconds": round(statistics.median(noop), 3),
                "ratio_to_ping": round(statistics.median(noop) / statistics.median(ping), 2)})
    return out
