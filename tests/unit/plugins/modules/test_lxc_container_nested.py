# SPDX-License-Identifier: GPL-3.0-or-later
"""lxc_container inside a simulated Turris router (nested LXC), over SSH as on a real router:
a one-router fleet gets LXC from the simulator's signed opkg feed, the cgroup hierarchies the
way the namespaces role mounts them, and the CA of the test image server (served on the
simulator's bridge over HTTPS); then tests/integration/lxc_container/main.yml runs against it,
download-template part included (a Debian container from the images.linuxcontainers.org-style
index: lowercase names, Debian's arch names), with the router's own /etc/init.d/lxc-auto."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
SIM_DIR = REPO / "tests" / "sim"
sys.path.insert(0, str(SIM_DIR))
import feed  # noqa: E402  pylint: disable=wrong-import-position
import images  # noqa: E402  pylint: disable=wrong-import-position
import turris_sim  # noqa: E402  pylint: disable=wrong-import-position

# One fleet per test process: several engineers (or CI jobs) may run the unit tests at once on
# one machine, and a shared fleet name would hand one run the other's router and containers.
FLEET = "tlxcnest%d" % (os.getpid() % 100000)
DEB_CACHE = Path(os.environ.get("TSIM_DEB_CACHE", "/var/cache/turris-sim/debs"))
ROUTER_CA = "/etc/ssl/turris-sim-images-ca.pem"
ROUTER_WGETRC = "/etc/wgetrc-turris-sim-images"
OPKG = 'opkg() { python3 /usr/lib/turris-sim/opkg_sim.py --turris-sim-wrapper "$@"; }; '


def _apt_knows_lxc():
    return shutil.which("apt-cache") is not None and subprocess.run(
        ["apt-cache", "show", "liblxc1"], capture_output=True, check=False).returncode == 0


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("lxc-start"),
                       reason="needs root and LXC on the host to bring up a simulated router (make hostdeps)"),
    pytest.mark.skipif(not _apt_knows_lxc(),
                       reason="needs apt-cache with Debian bookworm lists (apt-get update) for the simulator's feed"),
]


def sim(*args, check=True):
    res = subprocess.run([sys.executable, str(SIM_DIR / "turris_sim.py")] + list(args), capture_output=True,
                         text=True, check=False)
    if check and res.returncode != 0:
        raise AssertionError("turris_sim.py %s: %s" % (" ".join(args), res.stderr))
    return res


def on(router, script, timeout=600):
    res = subprocess.run(["lxc-attach", "-P", str(turris_sim.LXCPATH), "-n", router["name"], "--", "/bin/sh", "-c",
                          script], capture_output=True, text=True, timeout=timeout, check=False)
    return res.returncode, res.stdout + res.stderr


@pytest.fixture(scope="module")
def router():
    work = Path(tempfile.mkdtemp(prefix="tlxc-nested-"))
    servers = []
    sim("up", "--fleet", FLEET, "--count", "1", "--board", "omnia")
    try:
        r = json.loads(sim("status", "--fleet", FLEET, "--json").stdout)[0]
        result = feed.ensure_feeds(work / "www", work / "keys", DEB_CACHE)
        fserver, url = feed.serve(str(work / "www"), host=turris_sim.BRIDGE_ADDR, port=0)
        servers.append(fserver)
        arch = "arm_cortex-a9_vfpv3-d16"  # the omnia's opkg arch
        key = Path(result["dist_key"]).read_text()
        rc, out = on(r, ": > /etc/opkg/distfeeds.conf && cat > /tmp/feed.pub <<'EOF'\n%sEOF\nopkg-key add /tmp/feed.pub"
                     " && echo 'src/gz turris_packages %s/%s' >> /etc/opkg/distfeeds.conf"
                     % (key, url, result["feeds"][arch][0]["path"]))
        assert rc == 0, out
        rc, out = on(r, OPKG + "opkg update && opkg install lxc lxc-templates lxc-auto")
        assert rc == 0, out
        # cgroup v1 hierarchies, as the namespaces role mounts them on Turris
        rc, out = on(r, "mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup && for c in $(awk '!/^#/ && $4 == 1 "
                     "{ print $1 }' /proc/cgroups); do mkdir -p /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup "
                     "/sys/fs/cgroup/$c || rmdir /sys/fs/cgroup/$c; done")
        assert rc == 0, out
        # Both kinds of server (images.py SERVERS); the download part uses the lowercase one, as
        # images.linuxcontainers.org names images (debian/bookworm/armhf for the Omnia): the site
        # scenario and the demo use the repo.turris.cz/lxc-style one.
        image = images.build("debian")
        images.make_servers([image], str(work / "images"))
        iserver = images.ImageServer(str(work / "images"), turris_sim.BRIDGE_ADDR).start()
        servers.append(iserver.httpd)
        with open(iserver.tls["ca"]) as f:
            ca = f.read()
        rc, out = on(r, "mkdir -p /etc/ssl && cat > %s <<'EOF'\n%sEOF\necho 'ca_certificate = %s' > %s"
                     % (ROUTER_CA, ca, ROUTER_CA, ROUTER_WGETRC))
        assert rc == 0, out
        yield {"router": r, "image_server": iserver.server + "/linuxcontainers", "image": image}
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
        sim("down", "--fleet", FLEET, check=False)
        shutil.rmtree(work, ignore_errors=True)


def test_integration_playbook_in_a_simulated_router(router):
    r = router["router"]
    # the router's LXC is what the feed installed: the module must find its lxcpath and template
    rc, out = on(r, "lxc-config lxc.lxcpath && ls /usr/share/lxc/templates/lxc-download /etc/init.d/lxc-auto")
    assert rc == 0 and "/srv/lxc" in out, out
    env = dict(os.environ, TSIM_FLEET=FLEET, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    extra = {"lxc_test_image_server": router["image_server"],
             "lxc_test_image": {"dist": "debian", "release": "bookworm", "arch": "armhf"},
             "lxc_test_environment": {"WGETRC": ROUTER_WGETRC}}
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(SIM_DIR / "ansible_inventory.py"),
           str(REPO / "tests" / "integration" / "lxc_container" / "main.yml"), "-e", json.dumps(extra)]
    res = subprocess.run(cmd, env=env, cwd=str(REPO), capture_output=True, text=True, timeout=1800, check=False)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert "failed=0" in res.stdout and "rescued=4" in res.stdout, res.stdout[-3000:]
    # nothing left behind in the router
    rc, out = on(r, "lxc-ls -P /var/lib/turris-lxc-test/integration -1 2>/dev/null; ip link show tlxcbr0; "
                 "cat /etc/config/lxc-auto")
    assert "tlxc-it" not in out and "does not exist" in out, out
