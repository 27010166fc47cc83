# SPDX-License-Identifier: GPL-3.0-or-later
"""Run inventory sources through Ansible itself, in a process of its own (test_fleet.py starts it).

For each config file given, as Ansible does it: the plugin loader finds turris.containers.fleet in
the collections path (ANSIBLE_COLLECTIONS_PATH), its verify_file is asked, then its parse fills a
real InventoryData. Prints JSON: per config, the error (None when parsed), the hosts and groups the
inventory holds afterwards (empty after a refusal: no partial inventory) and each host's variables.

With --manager, each config goes through InventoryManager instead (what ansible-playbook uses),
with the implicit `auto` plugin picking the fleet plugin from the config's `plugin:` key.
"""
import json
import sys

from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, inventory_loader


def plain(value):
    """Inventory values as JSON (unsafe/tagged strings are still strings)."""
    return json.loads(json.dumps(value, default=str))


def snapshot(groups, hosts):
    return {
        "groups": {name: sorted(h.name for h in group.hosts) for name, group in groups.items()
                   if name not in ("all", "ungrouped")},
        "children": {name: sorted(c.name for c in group.child_groups) for name, group in groups.items()},
        "vars": {name: plain(host.vars) for name, host in hosts.items()},
    }


def direct(path):
    plugin = inventory_loader.get("turris.containers.fleet")
    if not plugin.verify_file(path):
        return {"verified": False}
    data = InventoryData()
    out = {"verified": True, "error": None}
    try:
        plugin.parse(data, DataLoader(), path, cache=False)
    except AnsibleError as exc:
        out["error"] = str(exc)
    out.update(snapshot(data.groups, data.hosts))
    return out


def manager(path):
    inventory = InventoryManager(loader=DataLoader(), sources=[path])
    return snapshot(inventory.groups, inventory.hosts)


def main(argv):
    init_plugin_loader()
    use = manager if argv[:1] == ["--manager"] else direct
    paths = argv[1:] if use is manager else argv
    json.dump({path: use(path) for path in paths}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
