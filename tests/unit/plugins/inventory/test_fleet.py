# SPDX-License-Identifier: GPL-3.0-or-later
"""turris.containers.fleet, the inventory plugin for an ISP's device list, run by Ansible itself.

Real files in temporary directories; Ansible in processes of its own with the collection on
ANSIBLE_COLLECTIONS_PATH as the Makefile sets it: `ansible-inventory --list`, `ansible-doc`, an
ad-hoc `ansible` run, and fleet_driver.py (the plugin loader, the plugin's verify_file and parse
into a real InventoryData, or InventoryManager with the `auto` plugin). Every bad-row case must be
refused with the file, the line, the value and what is allowed, and leave no host behind."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = ROOT / "examples" / "isp"
DRIVER = Path(__file__).with_name("fleet_driver.py")
BIN = Path(sys.executable).parent

PLANS = {
    "basic": {"containers": [{"name": "tools", "flavor": "busybox"}]},
    "voip": {"containers": [{"name": "pbx", "flavor": "asterisk"}], "docker_enabled": False,
             "vars": {"greeting": "{{ 'templated' | upper }}", "lxc_host_path": "/srv/plan"}},
    "homelab": {"containers": [{"name": "web", "flavor": "debian"}], "docker_enabled": True},
}
HEADER = "host,address,board,customer_id,plan\n"
GOOD_ROW = "cust-1,192.0.2.1,omnia,C-1,basic\n"


def env():
    out = dict(os.environ)
    site = Path(sys.executable).parents[1] / "lib" / "python3.11" / "site-packages"
    out["ANSIBLE_COLLECTIONS_PATH"] = "%s:%s" % (ROOT / ".build" / "collections", site)
    out["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    out["ANSIBLE_NOCOLOR"] = "1"
    out["ANSIBLE_FORCE_COLOR"] = "0"
    out["PATH"] = "%s:%s" % (BIN, out.get("PATH", ""))
    return out


def run(args, cwd=None):
    return subprocess.run(args, capture_output=True, text=True, env=env(), cwd=str(cwd or ROOT), timeout=300, check=False)


def write_case(base, devices, plans=None, devices_name="devices.csv", config=None):
    base.mkdir(parents=True, exist_ok=True)
    if isinstance(devices, bytes):
        (base / devices_name).write_bytes(devices)
    else:
        (base / devices_name).write_text(devices, encoding="utf-8", newline="")
    plans_text = plans if isinstance(plans, str) else yaml.safe_dump(PLANS if plans is None else plans)
    (base / "plans.yml").write_text(plans_text)
    cfg = base / "customers.fleet.yml"
    cfg.write_text(yaml.safe_dump(config or {"plugin": "turris.containers.fleet", "devices": devices_name,
                                             "plans": "plans.yml"}))
    return cfg


def drive(configs, use_manager=False, cwd=None):
    args = [sys.executable, str(DRIVER)] + (["--manager"] if use_manager else []) + [str(c) for c in configs]
    proc = run(args, cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


# (case id, device file name, device file content, plans or None, [what the error must say])
BAD = [
    ("unknown board", "devices.csv", HEADER + GOOD_ROW + "cust-2,192.0.2.2,omnia2,C-2,basic\n", None,
     ["devices.csv line 3: invalid board 'omnia2': one of turris1x, omnia, mox"]),
    ("board in capitals", "devices.csv", HEADER + "cust-2,192.0.2.2,Omnia,C-2,basic\n", None,
     ["devices.csv line 2: invalid board 'Omnia': one of turris1x, omnia, mox"]),
    ("unknown plan", "devices.csv", HEADER + "cust-2,192.0.2.2,mox,C-2,gold\n", None,
     ["devices.csv line 2: invalid plan 'gold': a plan of the plans file: basic, homelab, voip"]),
    ("duplicate host", "devices.csv", HEADER + GOOD_ROW + "\n" + "CUST-1,192.0.2.9,mox,C-9,basic\n", None,
     ["devices.csv line 4: duplicate host 'CUST-1': already on line 2; each device once"]),
    ("duplicate address", "devices.csv", HEADER + GOOD_ROW + "cust-2,192.0.2.1,mox,C-2,basic\n", None,
     ["devices.csv line 3: duplicate address '192.0.2.1': already on line 2"]),
    ("missing column", "devices.csv", "host,address,board,customer_id\ncust-1,192.0.2.1,omnia,C-1\n", None,
     ["devices.csv line 1: missing column plan in the header", "the columns host, address, board, customer_id, plan are required"]),
    ("unknown column", "devices.csv", "host,address,board,customer_id,plan,colour\ncust-1,192.0.2.1,omnia,C-1,basic,red\n",
     None, ["devices.csv line 1: invalid column 'colour': host, address, board, customer_id, plan, or var:NAME"]),
    ("empty value", "devices.csv", HEADER + "cust-1,192.0.2.1,,C-1,basic\n", None,
     ["devices.csv line 2: missing board: every device needs host, address, board, customer_id, plan"]),
    ("short row", "devices.csv", HEADER + "cust-1,192.0.2.1,omnia,C-1\n", None,
     ["devices.csv line 2: 4 fields where the header (line 1) names 5 columns"]),
    ("long row", "devices.csv", HEADER + "cust-1,192.0.2.1,omnia,C-1,basic,extra\n", None,
     ["devices.csv line 2: 6 fields where the header (line 1) names 5 columns"]),
    ("address out of range", "devices.csv", HEADER + "cust-1,192.0.2.300,omnia,C-1,basic\n", None,
     ["devices.csv line 2: invalid address '192.0.2.300': an IPv4 or IPv6 address"]),
    ("address with prefix", "devices.csv", HEADER + "cust-1,192.0.2.1/24,omnia,C-1,basic\n", None,
     ["devices.csv line 2: invalid address '192.0.2.1/24'"]),
    ("address with port", "devices.csv", HEADER + "cust-1,router.example.net:2222,omnia,C-1,basic\n", None,
     ["devices.csv line 2: invalid address 'router.example.net:2222'"]),
    ("host with underscore", "devices.csv", HEADER + "cust_1,192.0.2.1,omnia,C-1,basic\n", None,
     ["devices.csv line 2: invalid host 'cust_1': a DNS name"]),
    ("customer id with space", "devices.csv", HEADER + "cust-1,192.0.2.1,omnia,C 1,basic\n", None,
     ["devices.csv line 2: invalid customer_id 'C 1': 1 to 64 letters, digits"]),
    ("tab in a field", "devices.csv", HEADER + "cust-1,192.0.2.1,omnia\t,C-1,basic\n", None,
     ["devices.csv line 2: no control characters", "found '\\t'"]),
    ("escape in a comment", "devices.csv", "# exported \x1b[2J\n" + HEADER + GOOD_ROW, None,
     ["devices.csv line 1: no control characters", "found '\\x1b'"]),
    ("newline inside quotes", "devices.csv", HEADER + 'cust-1,192.0.2.1,omnia,"C-1\nX",basic\n', None,
     ["devices.csv line 2: invalid customer_id 'C-1\\nX'"]),
    ("reserved variable column", "devices.csv", "host,address,board,customer_id,plan,var:ansible_host\n"
     "cust-1,192.0.2.1,omnia,C-1,basic,10.0.0.1\n", None,
     ["devices.csv line 2: invalid variable name 'ansible_host'", "not one of ansible_host, turris_customer_id, turris_plan"]),
    ("not UTF-8", "devices.csv", (HEADER + GOOD_ROW).encode() + b"cust-2,192.0.2.2,mox,C-\xe9,basic\n", None,
     ["devices.csv line 3: not UTF-8 (byte b'\\xe9'): save the file as UTF-8"]),
    ("header only", "devices.csv", HEADER, None, ["devices.csv: no devices (a header row and no device rows)"]),
    ("every bad row at once", "devices.csv", HEADER + "cust-1,192.0.2.1,omnia3,C-1,basic\n"
     + "cust-2,192.0.2.2,omnia,C-2,basic\n" + "cust-3,192.0.2.3,mox,C-3,silver\n", None,
     ["devices.csv line 2: invalid board 'omnia3'", "line 4: invalid plan 'silver'"]),
    ("YAML unknown key", "devices.yml",
     yaml.safe_dump([{"host": "cust-1", "address": "192.0.2.1", "board": "mox", "customer_id": "C-1", "plna": "basic"}]),
     None,
     ["devices.yml line 1: invalid key 'plna': one of host, address, board, customer_id, plan, vars"]),
    ("YAML number as customer id", "devices.yml",
     "- {host: cust-1, address: 192.0.2.1, board: mox, customer_id: C-1, plan: basic}\n"
     "- {host: cust-2, address: 192.0.2.2, board: mox, customer_id: 00123, plan: basic}\n", None,
     ["devices.yml line 2: invalid customer_id 83: a string (quote it in YAML)"]),
    ("YAML escape in a variable", "devices.yml",
     "devices:\n  - host: cust-1\n    address: 192.0.2.1\n    board: mox\n    customer_id: C-1\n    plan: basic\n"
     "    vars: {motd: \"hello\\x07\"}\n", None,
     ["devices.yml line 2: invalid variable motd 'hello\\x07': no control characters"]),
    ("YAML vars not a mapping", "devices.yml",
     "- {host: cust-1, address: 192.0.2.1, board: mox, customer_id: C-1, plan: basic, vars: [a]}\n", None,
     ["devices.yml line 1: invalid vars ['a']: a mapping of variable names to values"]),
    ("plan with unknown key", "devices.csv", HEADER + GOOD_ROW, {"basic": {"containers": [], "docker": True}},
     ["plans.yml: plan 'basic': unknown key 'docker': allowed are containers, docker_enabled, vars, description"]),
    ("plan docker_enabled as text", "devices.csv", HEADER + GOOD_ROW, {"basic": {"docker_enabled": "yes"}},
     ["plans.yml: plan 'basic': invalid docker_enabled 'yes': true or false"]),
    ("plan containers not a list", "devices.csv", HEADER + GOOD_ROW, {"basic": {"containers": {"name": "x"}}},
     ["plans.yml: plan 'basic': invalid containers {'name': 'x'}: a list of container mappings"]),
    ("plan container without name", "devices.csv", HEADER + GOOD_ROW, {"basic": {"containers": [{"flavor": "busybox"}]}},
     ["plans.yml: plan 'basic': invalid containers[0] {'flavor': 'busybox'}: a mapping with a 'name'"]),
    ("plan name with a dash", "devices.csv", HEADER + GOOD_ROW, {"basic": {}, "gold-plan": {}},
     ["plans.yml: invalid plan name 'gold-plan': letters, digits and '_', starting with a letter"]),
    ("plan setting a column's variable", "devices.csv", HEADER + GOOD_ROW, {"basic": {"vars": {"turris_plan": "x"}}},
     ["plans.yml: plan 'basic': invalid variable name 'turris_plan'"]),
    ("plans file not a mapping", "devices.csv", HEADER + GOOD_ROW, "- basic\n",
     ["plans.yml: a mapping of plan names to plans is needed, got ['basic']"]),
]


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad")
    configs = {case[0]: write_case(base / ("c%02d" % i), case[2], case[3], devices_name=case[1])
               for i, case in enumerate(BAD)}
    results = drive(configs.values())
    return {name: results[str(cfg)] for name, cfg in configs.items()}


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_refused_whole(refused, case):
    name, wanted = case[0], case[4]
    got = refused[name]
    assert got["verified"] is True
    assert got["error"], "accepted: %r" % got
    assert "turris.containers.fleet refused" in got["error"]
    # the file's full path, then (for a row) its line
    assert "/%s" % wanted[0].split(" ")[0].rstrip(":") in got["error"], got["error"]
    for text in wanted:
        assert text in got["error"], got["error"]
    # nothing from the refused file: no host, no group
    assert got["vars"] == {} and got["groups"] == {}, got


def test_many_problems_reported_in_one_message_up_to_a_limit(tmp_path):
    rows = "".join("cust-%d,192.0.2.%d,omnia9,C-%d,basic\n" % (i, i, i) for i in range(1, 31))
    cfg = write_case(tmp_path, HEADER + rows)
    got = drive([cfg])[str(cfg)]
    assert "line 21: invalid board 'omnia9'" in got["error"]
    assert "line 22:" not in got["error"]
    assert "... and 10 more problems" in got["error"]
    assert got["vars"] == {}


def test_verify_file_takes_only_fleet_configs(tmp_path):
    cfg = write_case(tmp_path, HEADER + GOOD_ROW)
    other = tmp_path / "inventory.yml"
    other.write_text(cfg.read_text())
    got = drive([cfg, other])
    assert got[str(cfg)]["verified"] is True and got[str(cfg)]["error"] is None
    assert got[str(other)] == {"verified": False}


def test_bad_parent_group_refused(tmp_path):
    cfg = write_case(tmp_path, HEADER + GOOD_ROW, config={"plugin": "turris.containers.fleet", "devices": "devices.csv",
                                                          "plans": "plans.yml", "group": "isp-routers"})
    got = drive([cfg])[str(cfg)]
    assert "invalid group 'isp-routers'" in got["error"] and got["vars"] == {}


def test_example_through_inventory_manager():
    """examples/isp (README's "ISP device lists") as ansible-playbook would load it, from another directory."""
    got = drive([EXAMPLE / "customers.fleet.yml"], use_manager=True, cwd="/")[str(EXAMPLE / "customers.fleet.yml")]
    hosts = ["cust-1001", "cust-1002", "cust-1003", "cust-1004", "cust-1005"]
    assert sorted(got["vars"]) == hosts
    assert got["groups"] == {
        "turris": [], "board_omnia": ["cust-1001", "cust-1004"], "board_mox": ["cust-1002"],
        "board_turris1x": ["cust-1003", "cust-1005"], "plan_voip": ["cust-1001", "cust-1005"],
        "plan_homelab": ["cust-1002"], "plan_basic": ["cust-1003", "cust-1004"]}
    assert got["children"]["turris"] == ["board_mox", "board_omnia", "board_turris1x", "plan_basic", "plan_homelab",
                                         "plan_voip"]
    plans = yaml.safe_load((EXAMPLE / "plans.yml").read_text())
    one = got["vars"]["cust-1002"]
    assert one["ansible_host"] == "192.0.2.12" and one["turris_customer_id"] == "C-1002"
    assert one["turris_plan"] == "homelab" and one["docker_enabled"] is True
    assert one["containers"] == plans["homelab"]["containers"]
    assert one["lxc_host_path"] == "/mnt/ssd/lxc" and one["docker_data_root"] == "/mnt/ssd/docker/"
    v6 = got["vars"]["cust-1004"]
    assert (v6["ansible_host"], v6["docker_enabled"], "lxc_host_path" in v6) == ("2001:db8::14", False, False)
    assert got["vars"]["cust-1005"]["container_asterisk_endpoints"] == plans["voip"]["vars"]["container_asterisk_endpoints"]


def test_yaml_devices_typed_variables_and_precedence(tmp_path):
    devices = {"devices": [
        {"host": "cust-1", "address": "192.0.2.1", "board": "omnia", "customer_id": "C-1", "plan": "voip",
         "vars": {"lxc_host_path": "/srv/device", "docker_enabled": True, "ports": [5060, 5061]}},
        {"host": "cust-2", "address": "router-2.example.net", "board": "turris1x", "customer_id": "C-2", "plan": "voip"},
    ]}
    (tmp_path / "sub").mkdir()
    cfg = write_case(tmp_path / "sub", yaml.safe_dump(devices), devices_name="devices.yaml")
    got = drive([cfg], use_manager=True, cwd=tmp_path)[str(cfg)]["vars"]
    assert got["cust-1"]["lxc_host_path"] == "/srv/device" and got["cust-2"]["lxc_host_path"] == "/srv/plan"
    assert got["cust-1"]["docker_enabled"] is True and got["cust-2"]["docker_enabled"] is False
    assert got["cust-1"]["ports"] == [5060, 5061]
    assert got["cust-2"]["ansible_host"] == "router-2.example.net"


def test_ansible_inventory_list_of_the_example():
    proc = run([str(BIN / "ansible-inventory"), "-i", str(EXAMPLE / "customers.fleet.yml"), "--list"])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert sorted(data["_meta"]["hostvars"]) == ["cust-1001", "cust-1002", "cust-1003", "cust-1004", "cust-1005"]
    assert set(data["turris"]["children"]) == {
        "board_mox", "board_omnia", "board_turris1x", "plan_basic", "plan_homelab", "plan_voip"}
    assert data["_meta"]["hostvars"]["cust-1003"]["containers"] == [{"name": "tools", "flavor": "busybox"}]
    assert "refused" not in proc.stderr


def test_ansible_inventory_fails_on_a_bad_row_when_told_to(tmp_path):
    cfg = write_case(tmp_path, HEADER + GOOD_ROW + "cust-2,192.0.2.2,omnia,C-2,platinum\n")
    args = [str(BIN / "ansible-inventory"), "-i", str(cfg), "--list"]
    lenient = run(args)
    assert "line 3: invalid plan 'platinum'" in " ".join(lenient.stderr.split())
    assert "cust-1" not in lenient.stdout  # the good row did not get in either
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False,
                          env=dict(env(), ANSIBLE_INVENTORY_UNPARSED_FAILED="true"), cwd=str(ROOT))
    assert proc.returncode != 0
    assert "line 3: invalid plan 'platinum'" in " ".join(proc.stderr.split())


def test_device_file_values_are_never_templated_plan_values_are(tmp_path):
    cfg = write_case(tmp_path, "host,address,board,customer_id,plan,var:motd\n"
                     "cust-1,192.0.2.1,omnia,C-1,voip,\"{{ lookup('ansible.builtin.env', 'HOME') }}\"\n")
    proc = subprocess.run([str(BIN / "ansible"), "-i", str(cfg), "cust-1", "-m", "ansible.builtin.debug",
                           "-a", "msg=[{{ motd }}][{{ greeting }}]"], capture_output=True, text=True, timeout=300,
                          check=False, env=dict(env(), ANSIBLE_CALLBACK_RESULT_FORMAT="json"), cwd=str(ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"msg": "[{{ lookup(\'ansible.builtin.env\', \'HOME\') }}][TEMPLATED]"' in proc.stdout, proc.stdout


def test_ansible_doc_documents_the_plugin():
    proc = run([str(BIN / "ansible-doc"), "-t", "inventory", "--json", "turris.containers.fleet"])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)["turris.containers.fleet"]
    options = doc["doc"]["options"]
    assert {"plugin", "devices", "devices_format", "plans", "group"} <= set(options)
    assert options["plugin"]["choices"] == ["turris.containers.fleet"] and options["plugin"]["required"] is True
    assert options["group"]["default"] == "turris"
    assert "customers.fleet.yml" in doc["examples"]
    listing = run([str(BIN / "ansible-doc"), "-t", "inventory", "-l", "turris.containers"])
    assert "turris.containers.fleet" in listing.stdout, listing.stdout + listing.stderr


def test_the_example_passes_site_yml_fleet_check(tmp_path):
    """examples/isp through site.yml's own check of every router's containers and Docker settings (the
    play test_examples.py runs for examples/inventory.yml, taken from there), on the controller only:
    each router's board comes from its board_* group, its kernel readiness from its board's kernel."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("examples_check", str(ROOT / "tests" / "unit" / "test_examples.py"))
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    config = EXAMPLE / "customers.fleet.yml"
    groups = drive([config], use_manager=True)[str(config)]["groups"]
    boards = {host: group[len("board_"):] for group, hosts in groups.items() if group.startswith("board_")
              for host in hosts}
    check.BOARDS = boards  # facts() builds each router's board facts from this table
    playbook = [check.validation_play() if p == "VALIDATION" else p for p in check.PLAYBOOK]
    (tmp_path / "check.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
    (tmp_path / "out").mkdir()
    extra = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
             "fleet_check_facts": check.facts(), "fleet_check_kernels": str(check.KERNELS),
             "lxc_host_image_server": "repo.turris.cz/lxc", "container_check_images": False,
             "vault_pbx_6001_password": "not-a-real-secret", "fleet_check_out": str(tmp_path / "out")}
    proc = run([str(BIN / "ansible-playbook"), "-i", str(config), str(tmp_path / "check.yml"), "-e", json.dumps(extra)],
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    resolved = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")}
    plans = yaml.safe_load((EXAMPLE / "plans.yml").read_text())
    plan_of = {host: group[len("plan_"):] for group, hosts in groups.items() if group.startswith("plan_")
               for host in hosts}
    assert sorted(resolved) == sorted(boards)
    for host, got in resolved.items():
        assert got["containers"] == [c["name"] for c in plans[plan_of[host]]["containers"]], host
