# SPDX-License-Identifier: GPL-3.0-or-later
"""examples/inventory.yml, the inventory README.md shows, passes the fleet check of site.yml.

The check is site.yml's own validation play (read from playbooks/site.yml at test time, never
copied), run by ansible-playbook on the controller alone: no router and no image server is
contacted. What bootstrap and namespaces would find on each router is given instead: the board
facts from the collection's board table, the kernel readiness from kernel_config_info on the
simulator's kernel config of that board. Two things a real run reads from the routers are set:
the image server (repo.turris.cz/lxc, Turris OS's default in /etc/config/lxc) and
container_check_images=false (the server's index is not fetched, so image names are not checked
against it here). Broken copies of the example must fail the same check."""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.turris.containers.plugins.module_utils import _turris
from conftest import CONFORMANCE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "inventory.yml"
# The boards of the example's routers; a router added to the example needs its board here.
BOARDS = {"omnia.example.net": "omnia", "mox.example.net": "mox", "turris1x.example.net": "turris1x"}
KERNELS = ROOT / "tests" / "sim" / "boards"
VALIDATION_PLAY = "Check every router's containers before any change"


def validation_play():
    plays = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    found = [p for p in plays if p.get("name") == VALIDATION_PLAY]
    assert len(found) == 1, "site.yml has no play %r any more: update this test" % VALIDATION_PLAY
    play = found[0]
    roles = [{k: v for k, v in t["ansible.builtin.include_role"].items() if k != "apply"}  # apply: the tags
             for t in play["tasks"] if "ansible.builtin.include_role" in t]
    assert {"name": "turris.containers.container", "tasks_from": "validate"} in roles
    assert {"name": "turris.containers.docker", "tasks_from": "validate"} in roles
    # one bad router stops the fleet unless the user turns it off (default true; the runs below rely on it)
    assert play.get("any_errors_fatal") == "{{ turris_fleet_stop_on_bad_input | default(true) | bool }}"
    return play


def facts():
    out = {}
    for host, board in BOARDS.items():
        b = _turris.BOARDS[board]
        out[host] = {"turris_board": board, "turris_arch": b["arch"], "turris_opkg_arch": b["opkg_arch"],
                     "turris_lxc_arch": b["lxc_arch"], "turris_os_version": "7.2.3"}
    return out


PLAYBOOK = [
    {"name": "What bootstrap and namespaces would find on each router",
     "hosts": "turris", "gather_facts": False,
     "tasks": [
         {"name": "Board facts", "ansible.builtin.set_fact": {
             k: "{{ fleet_check_facts[inventory_hostname].%s }}" % k
             for k in ("turris_board", "turris_arch", "turris_opkg_arch", "turris_lxc_arch", "turris_os_version")}},
         {"name": "Kernel readiness of the board's kernel", "register": "fleet_check_kernel",
          "turris.containers.kernel_config_info": {"path": "{{ fleet_check_kernels }}/{{ turris_board }}.config",
                                                   "board": "{{ turris_board }}"}},
         {"name": "Publish it as the namespaces role does", "ansible.builtin.set_fact": {
             "namespaces_readiness": "{{ fleet_check_kernel | dict2items | selectattr('key', 'in', "
                                     "['config_path', 'kernel_version', 'ready', 'missing', 'conflicts', 'checks'])"
                                     " | items2dict }}"}},
         {"name": "Count the router among those bootstrap prepared (site.yml's later plays run on them)",
          "ansible.builtin.group_by": {"key": "turris_bootstrapped"}}]},
    "VALIDATION",
    {"name": "Report what the check resolved", "hosts": "turris", "gather_facts": False,
     "tasks": [{"name": "Resolved containers", "ansible.builtin.copy": {
         "dest": "{{ fleet_check_out }}/{{ inventory_hostname }}.json", "mode": "0600",
         "content": "{{ {'host': inventory_hostname, 'containers': container_specs | map(attribute='name') | list,"
                    " 'flavors': container_specs | map(attribute='flavor') | list} | to_json }}"}}]},
]


def run_check(tmp_path, inventory):
    """The example directory as a user would lay it out: the inventory and the Docker feed's key."""
    work = tmp_path / "example"
    work.mkdir()
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False)
                                        if isinstance(inventory, dict) else inventory)
    shutil.copy(str(CONFORMANCE / "usign" / "feedkey.pub"), str(work / "docker-feed.pub"))  # a test key
    playbook = [validation_play() if p == "VALIDATION" else p for p in PLAYBOOK]
    (work / "check.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
    extra = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
             "fleet_check_facts": facts(), "fleet_check_kernels": str(KERNELS),
             "lxc_host_image_server": "repo.turris.cz/lxc", "container_check_images": False,
             "vault_web_root_password": "not-a-real-secret", "fleet_check_out": str(work / "out")}
    (work / "out").mkdir()
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".build" / "collections"))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(work / "inventory.yml"),
                           str(work / "check.yml"), "-e", json.dumps(extra)],
                          cwd=str(work), env=env, capture_output=True, text=True, timeout=600, check=False)
    resolved = {p.stem: json.loads(p.read_text()) for p in (work / "out").glob("*.json")}
    return proc, resolved


def example():
    return yaml.safe_load(EXAMPLE.read_text())


def test_the_example_passes_the_fleet_check(tmp_path):
    inventory = example()
    hosts = inventory["all"]["children"]["turris"]["hosts"]
    assert set(hosts) == set(BOARDS), "a router of the example has no board in BOARDS"
    proc, resolved = run_check(tmp_path, EXAMPLE.read_text())
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert set(resolved) == set(hosts), proc.stdout[-4000:]
    for host, spec in hosts.items():
        assert resolved[host]["containers"] == [c["name"] for c in spec.get("containers", [])]
        assert resolved[host]["flavors"] == [c["flavor"] for c in spec.get("containers", [])]
    # every flavor and Docker on the Turris 1.x, so that the example shows what users must give
    assert {f for r in resolved.values() for f in r["flavors"]} == {"debian", "turrisos", "busybox", "asterisk"}
    assert hosts["turris1x.example.net"]["docker_enabled"] is True


def _debian_on_turris1x(inv):
    inv["all"]["children"]["turris"]["hosts"]["turris1x.example.net"]["containers"].append(
        {"name": "deb", "flavor": "debian"})


def _docker_without_feed(inv):
    del inv["all"]["children"]["turris"]["hosts"]["turris1x.example.net"]["docker_feed_url"]


def _unknown_flavor(inv):
    inv["all"]["children"]["turris"]["hosts"]["mox.example.net"]["containers"][0]["flavor"] = "alpine"


@pytest.mark.parametrize("breakage, message", [
    (_debian_on_turris1x, "lxc_debian"),
    (_docker_without_feed, "docker_feed_url"),
    (_unknown_flavor, '"alpine" is unknown'),
], ids=["debian-on-turris1x", "docker-without-feed", "unknown-flavor"])
def test_a_broken_example_fails_the_check_on_every_router(tmp_path, breakage, message):
    inventory = copy.deepcopy(example())
    breakage(inventory)
    proc, resolved = run_check(tmp_path, inventory)
    assert proc.returncode != 0, proc.stdout[-4000:]
    assert message in proc.stdout, proc.stdout[-4000:]
    assert resolved == {}, "a router went on past the check: %s" % resolved  # any_errors_fatal


def test_readme_shows_the_example():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n# examples/inventory.yml\n(.*?)```", readme, re.S)
    assert len(blocks) == 1, "README.md must embed examples/inventory.yml once, in a yaml block headed by its path"
    assert blocks[0] == EXAMPLE.read_text()
