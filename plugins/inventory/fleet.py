# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2025, turris.containers contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory plugin turris.containers.fleet: an ISP's device list and plans as Ansible hosts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet
short_description: Turris routers from an ISP's device list (CSV or YAML) and a plans file
version_added: 0.1.0
description:
  - Reads a customer device file (one router per row - host name, address, board, customer id, plan name,
    optional variables) and a plans file (what each plan puts on a router - its C(containers) list,
    C(docker_enabled) and other role variables), and makes one host per device.
  - "Each host gets C(ansible_host) (the device's address), C(turris_customer_id), C(turris_plan),
    C(containers) and C(docker_enabled) (from its plan; C([]) and C(false) when the plan does not say),
    the plan's O(plans) C(vars), then the device's own variables, which win over the plan's."
  - "Groups: C(board_<board>) per board (C(board_turris1x), C(board_omnia), C(board_mox)) and C(plan_<plan>)
    per plan, all children of one parent group, O(group) (C(turris), the group C(turris.containers.site) runs on)."
  - "Every row is checked before any host is made. A bad row (unknown board or plan, duplicate host name
    or address, missing or unknown column, bad address, host name or customer id, control characters
    anywhere) refuses the whole file with the file name, the line number, the value and what is allowed
    (up to 20 errors at once). No row is skipped and no partial inventory is made."
  - "Ansible reports a refused inventory source as a warning and goes on with the other sources. Make it
    stop instead with C(unparsed_is_failed = true) in the C([inventory]) section of C(ansible.cfg), or
    C(ANSIBLE_INVENTORY_UNPARSED_FAILED=true)."
  - "Values from the device file are data, never templates: a customer id or a variable holding C({{ ... }})
    stays as written (an export from a customer database cannot inject templates). The plans file is the
    operator's: its values are templated as usual (for example C({{ vault_pbx_password }}))."
  - The configuration file's name must end in C(.fleet.yml) or C(.fleet.yaml).
author:
  - turris.containers contributors (!UNKNOWN)
options:
  plugin:
    description: The name of this plugin; it marks a configuration file as this plugin's.
    type: str
    required: true
    choices: [turris.containers.fleet]
  devices:
    description:
      - The customer device file. A relative path is relative to the directory of the configuration file.
      - "CSV (C(.csv)): UTF-8, a header row naming the columns, then one device per row. Required columns
        C(host), C(address), C(board), C(customer_id), C(plan). A column named C(var:NAME) sets the host
        variable C(NAME) to the cell's text (an empty cell sets nothing); values are strings (use a YAML
        device file for lists, numbers or booleans). Blank lines and lines starting with C(#) are not
        rows. Any other column is refused."
      - "YAML (C(.yml), C(.yaml)): a list of mappings with the keys C(host), C(address), C(board),
        C(customer_id), C(plan) (strings) and optionally C(vars) (a mapping of host variables); or a
        mapping whose C(devices) key holds that list."
      - "C(host): the inventory name, a DNS name (letters, digits, C(-), labels separated by C(.), at most 253
        characters). C(address): an IPv4 or IPv6 address or a DNS name. C(board): C(turris1x), C(omnia) or
        C(mox). C(customer_id): 1 to 64 of letters, digits, C(.), C(_), C(-), starting with a letter or
        digit. C(plan): a plan of O(plans)."
      - "Device variables may not set C(ansible_host), C(turris_customer_id) or C(turris_plan) (they have
        their own columns)."
    type: str
    required: true
  devices_format:
    description: The format of O(devices); C(auto) goes by its extension (C(.csv), C(.yml), C(.yaml)).
    type: str
    choices: [auto, csv, yaml]
    default: auto
  plans:
    description:
      - The plans file (YAML, may be encrypted with ansible-vault). A relative path is relative to the
        directory of the configuration file.
      - "A mapping of plan names (letters, digits and C(_)) to plans. A plan is a mapping with the keys:"
      - "C(containers): the router's C(containers) list, as in any C(turris.containers) inventory (each item
        a mapping with at least C(name)); C(site.yml) checks every item before any change."
      - "C(docker_enabled): C(true) to run the C(docker) role (a boolean)."
      - "C(vars): other role variables for the plan's routers. Those an ISP usually sets per plan:
        C(lxc_host_path) (container storage, for example on an external disk), C(lxc_host_image_server)
        (the ISP's own image mirror), C(docker_data_root), C(docker_registry_mirrors),
        C(container_asterisk_endpoints) (the VoIP plan's SIP accounts), C(container_flavor_overrides).
        Board-specific settings such as C(docker_feed_url) and C(docker_feed_key) of the Turris 1.x belong in
        C(group_vars/board_turris1x)."
      - "C(description): free text for people, not a variable."
    type: str
    required: true
  group:
    description: The parent group of every host and of the C(board_*) and C(plan_*) groups.
    type: str
    default: turris
"""

EXAMPLES = r"""
# customers.fleet.yml (ansible-inventory -i customers.fleet.yml --graph)
plugin: turris.containers.fleet
devices: devices.csv
plans: plans.yml

# devices.csv
#   host,address,board,customer_id,plan,var:lxc_host_path
#   cust-1001,192.0.2.11,omnia,C-1001,voip,
#   cust-1002,192.0.2.12,mox,C-1002,basic,/mnt/ssd/lxc
#   cust-1003,2001:db8::13,turris1x,C-1003,basic,

# plans.yml
#   basic:
#     description: A small tools container
#     containers:
#       - {name: tools, flavor: busybox}
#   voip:
#     containers:
#       - {name: pbx, flavor: asterisk}
#     docker_enabled: false
#     vars:
#       container_asterisk_endpoints:
#         - {name: "6001", password: "{{ vault_pbx_6001 }}", context: from-lan}

# The same devices as YAML (devices: devices.yml), with typed variables:
#   - host: cust-1002
#     address: 192.0.2.12
#     board: mox
#     customer_id: C-1002
#     plan: basic
#     vars:
#       docker_enabled: true
"""

import copy
import csv
import io
import ipaddress
import os
import re

import yaml

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible_collections.turris.containers.plugins.module_utils import _turris
from ansible_collections.turris.containers.plugins.module_utils._validate import (
    CONTROL_RULE, ValidationError, control_characters, shown)

from ansible import template as _template

# ansible-core >= 2.19 (data tagging): a string is data unless tagged as a template, so the device
# file's values need nothing and the plans file is loaded as trusted. 2.17 and 2.18: every string is a
# template unless wrapped as unsafe, so the device file's values are wrapped.
UNTRUSTED_BY_DEFAULT = hasattr(_template, "trust_as_template")
if UNTRUSTED_BY_DEFAULT:
    def _as_data(value):
        return value
else:
    from ansible.utils.unsafe_proxy import wrap_var as _as_data

COLUMNS = ("host", "address", "board", "customer_id", "plan")
VAR_COLUMN = "var:"
YAML_KEYS = COLUMNS + ("vars",)
PLAN_KEYS = ("containers", "docker_enabled", "vars", "description")
# Host variables the device file's own columns set: a device's variables may not set them too.
RESERVED_VARS = ("ansible_host", "turris_customer_id", "turris_plan")
MAX_ERRORS = 20

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DNS_RE = re.compile(r"^%s(?:\.%s)*\Z" % (_LABEL, _LABEL))
DNS_RULE = "a DNS name: letters, digits and '-' in labels of 1-63 characters separated by '.', at most 253 characters"
ADDRESS_RULE = "an IPv4 or IPv6 address (without prefix length or port) or a DNS name"
CUSTOMER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
CUSTOMER_RULE = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\Z")
PLAN_NAME_RULE = "letters, digits and '_', starting with a letter"
VAR_NAME_RULE = "a variable name: letters, digits and '_', starting with a letter"


class FleetError(Exception):
    """A device or plans file refused: every problem found, each with its place."""

    def __init__(self, problems):
        self.problems = problems
        shown_problems = problems[:MAX_ERRORS]
        text = "\n".join(shown_problems)
        if len(problems) > MAX_ERRORS:
            text += "\n... and %d more problems" % (len(problems) - MAX_ERRORS)
        super(FleetError, self).__init__(text)


def _where(source, line):
    return "%s line %d" % (source, line) if line else source


def _invalid(source, line, field, value, allowed):
    return "%s: %s" % (_where(source, line), ValidationError(field, value, allowed))


# ---------------------------------------------------------------- plans


def check_plans(data, source):
    """The plans of a loaded plans file: {name: {containers, docker_enabled, vars}}. Raises FleetError."""
    problems = []
    if not isinstance(data, dict) or not data:
        raise FleetError(["%s: a mapping of plan names to plans is needed, got %s" % (source, shown(data))])
    plans = {}
    for name, plan in data.items():
        where = "%s: plan %s" % (source, shown(name))
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append("%s: invalid plan name %s: %s" % (source, shown(name), PLAN_NAME_RULE))
            continue
        if plan is None:
            plan = {}
        if not isinstance(plan, dict):
            problems.append("%s: a mapping with the keys %s is needed, got %s"
                            % (where, ", ".join(PLAN_KEYS), shown(plan)))
            continue
        unknown = sorted(str(k) for k in plan if k not in PLAN_KEYS)
        if unknown:
            problems.append("%s: unknown key %s: allowed are %s (other role variables go under 'vars')"
                            % (where, shown(unknown[0]), ", ".join(PLAN_KEYS)))
        containers = plan.get("containers", [])
        if containers is None:
            containers = []
        if not isinstance(containers, list):
            problems.append("%s: invalid containers %s: a list of container mappings" % (where, shown(containers)))
        else:
            for index, item in enumerate(containers):
                if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item.get("name"):
                    problems.append("%s: invalid containers[%d] %s: a mapping with a 'name' (and the keys of a "
                                    "turris.containers container spec)" % (where, index, shown(item)))
        docker = plan.get("docker_enabled", False)
        if not isinstance(docker, bool):
            problems.append("%s: invalid docker_enabled %s: true or false (a YAML boolean, not a string)"
                            % (where, shown(docker)))
        plan_vars = plan.get("vars") or {}
        problems.extend(_check_vars(plan_vars, "%s: " % where, reserved=RESERVED_VARS + ("containers", "docker_enabled")))
        for text_field in ("description",):
            if text_field in plan and not isinstance(plan[text_field], str):
                problems.append("%s: invalid %s %s: a string" % (where, text_field, shown(plan[text_field])))
        plans[name] = {"containers": containers, "docker_enabled": docker, "vars": plan_vars}
    if problems:
        raise FleetError(problems)
    return plans


def _check_vars(variables, prefix, reserved):
    if not isinstance(variables, dict):
        return ["%sinvalid vars %s: a mapping of variable names to values" % (prefix, shown(variables))]
    problems = []
    for key in variables:
        if not isinstance(key, str) or not NAME_RE.match(key):
            problems.append("%sinvalid variable name %s: %s" % (prefix, shown(key), VAR_NAME_RULE))
        elif key in reserved:
            problems.append("%sinvalid variable name %s: set by the device file's own columns or the plan's own "
                            "keys; not one of %s" % (prefix, shown(key), ", ".join(reserved)))
    return problems


# ---------------------------------------------------------------- devices


def _strings_with_control(value):
    """The first string inside ``value`` (nested lists and mappings, keys too) holding a control character."""
    if isinstance(value, str):
        return value if control_characters(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _strings_with_control(key) or _strings_with_control(item)
            if found is not None:
                return found
    if isinstance(value, list):
        for item in value:
            found = _strings_with_control(item)
            if found is not None:
                return found
    return None


def _check_device(row, line, source, plans):
    """Problems of one device row (a dict of the five fields and 'vars')."""
    problems = []
    for field in COLUMNS:
        value = row.get(field)
        if value is None or value == "":
            problems.append("%s: missing %s: every device needs %s" % (_where(source, line), field, ", ".join(COLUMNS)))
            continue
        if not isinstance(value, str):
            problems.append(_invalid(source, line, field, value, "a string (quote it in YAML)"))
            continue
        if control_characters(value):
            problems.append(_invalid(source, line, field, value, CONTROL_RULE))
            continue
        if field == "host" and not (DNS_RE.match(value) and len(value) <= 253):
            problems.append(_invalid(source, line, field, value, DNS_RULE))
        elif field == "address" and not _is_address(value):
            problems.append(_invalid(source, line, field, value, ADDRESS_RULE))
        elif field == "board" and value not in _turris.BOARDS:
            problems.append(_invalid(source, line, field, value, "one of %s" % ", ".join(_turris.BOARDS)))
        elif field == "customer_id" and not CUSTOMER_RE.match(value):
            problems.append(_invalid(source, line, field, value, CUSTOMER_RULE))
        elif field == "plan" and value not in plans:
            problems.append(_invalid(source, line, field, value, "a plan of the plans file: %s"
                                     % ", ".join(sorted(plans))))
    variables = row.get("vars") or {}
    var_problems = _check_vars(variables, "%s: " % _where(source, line), RESERVED_VARS)
    problems.extend(var_problems)
    if not var_problems:
        for key, value in variables.items():
            bad = _strings_with_control(value)
            if bad is not None:
                problems.append(_invalid(source, line, "variable %s" % key, bad, CONTROL_RULE))
    return problems


def _is_address(value):
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    # A dotted quad that ipaddress refused (999.1.1.1, 010.0.0.1) is a mistake, not a DNS name.
    if re.match(r"^[0-9.]+\Z", value):
        return False
    return bool(DNS_RE.match(value)) and len(value) <= 253


def read_csv(text, source):
    """[(line, row)] of a CSV device file; rows as {column: value, 'vars': {...}}. Raises FleetError."""
    problems = []
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""))
    header = header_line = None
    end = 0
    for record in reader:
        # A quoted field may span lines: a row is reported at the line it starts on.
        line, end = end + 1, reader.line_num
        if not record or all(not cell.strip() for cell in record) or record[0].lstrip().startswith("#"):
            continue
        cells = [cell.strip() for cell in record]
        if header is None:
            header, header_line = cells, line
            problems.extend(_check_header(header, source, line))
            if problems:
                raise FleetError(problems)
            continue
        if len(cells) != len(header):
            problems.append("%s: %d fields where the header (line %d) names %d columns: %s"
                            % (_where(source, line), len(cells), header_line, len(header), shown(record)))
            continue
        row = {"vars": {}}
        for column, cell in zip(header, cells):
            if column.startswith(VAR_COLUMN):
                if cell:
                    row["vars"][column[len(VAR_COLUMN):]] = cell
            else:
                row[column] = cell
        rows.append((line, row))
    if header is None:
        raise FleetError(["%s: no header row (columns %s) and no devices" % (source, ", ".join(COLUMNS))])
    if problems:
        raise FleetError(problems)
    return rows


def _check_header(header, source, line):
    problems = []
    seen = set()
    for column in header:
        if control_characters(column):
            problems.append(_invalid(source, line, "column", column, CONTROL_RULE))
        elif column in seen:
            problems.append(_invalid(source, line, "column", column, "each column once"))
        elif column not in COLUMNS and not (column.startswith(VAR_COLUMN) and NAME_RE.match(column[len(VAR_COLUMN):])):
            problems.append(_invalid(source, line, "column", column, "%s, or var:NAME (NAME: %s)"
                                     % (", ".join(COLUMNS), VAR_NAME_RULE)))
        seen.add(column)
    missing = [c for c in COLUMNS if c not in seen]
    if missing:
        problems.append("%s: missing column %s in the header %s: the columns %s are required"
                        % (_where(source, line), ", ".join(missing), shown(header), ", ".join(COLUMNS)))
    return problems


class _LineLoader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """A safe YAML loader whose mappings remember the line they start on."""


class _Located(dict):
    line = 0


def _construct_mapping(loader, node):
    mapping = _Located(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(text, source):
    """[(line, row)] of a YAML device file. Raises FleetError."""
    try:
        data = yaml.load(text, Loader=_LineLoader)  # nosec B506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise FleetError(["%s: not valid YAML: %s" % (source, exc)])
    if isinstance(data, dict) and set(data) == {"devices"}:
        data = data["devices"]
    if not isinstance(data, list) or not data:
        raise FleetError(["%s: a list of devices (or a mapping with a 'devices' list) is needed, got %s"
                          % (source, shown(data))])
    problems = []
    rows = []
    for index, item in enumerate(data):
        line = getattr(item, "line", 0)
        if not isinstance(item, dict):
            problems.append("%s: device %d: a mapping with the keys %s is needed, got %s"
                            % (source, index + 1, ", ".join(YAML_KEYS), shown(item)))
            continue
        unknown = [k for k in item if k not in YAML_KEYS]
        if unknown:
            problems.append(_invalid(source, line, "key", unknown[0], "one of %s (host variables go under 'vars')"
                                     % ", ".join(YAML_KEYS)))
            continue
        row = dict(item)
        row["vars"] = item.get("vars") if item.get("vars") is not None else {}
        rows.append((line, row))
    if problems:
        raise FleetError(problems)
    return rows


def read_devices(text, source, fmt, plans):
    """The hosts of a device file: [{host, address, board, customer_id, plan, vars, line}]. Raises FleetError.

    ``fmt`` is ``csv`` or ``yaml``; ``plans`` what :func:`check_plans` returned. Every row is checked,
    every problem reported; nothing is returned unless every row is good."""
    # Control characters are refused wherever they are, comments included; only line ends pass.
    for number, line_text in enumerate(text.split("\n"), 1):
        line_text = line_text[:-1] if line_text.endswith("\r") else line_text
        bad = control_characters(line_text)
        if bad:
            raise FleetError(["%s line %d: %s; found %r in %s"
                              % (source, number, CONTROL_RULE, bad[0], shown(line_text))])
    rows = read_csv(text, source) if fmt == "csv" else read_yaml(text, source)
    problems = []
    hosts = []
    first = {}
    for line, row in rows:
        row_problems = _check_device(row, line, source, plans)
        problems.extend(row_problems)
        if row_problems:
            continue
        for field in ("host", "address"):
            key = (field, row[field].lower())
            if key in first:
                problems.append("%s: duplicate %s %s: already on line %d; each device once"
                                % (_where(source, line), field, shown(row[field]), first[key]))
            else:
                first[key] = line
        hosts.append(dict(row, line=line))
    if problems:
        raise FleetError(problems)
    if not hosts:
        raise FleetError(["%s: no devices (a header row and no device rows)" % source])
    return hosts


def host_vars(device, plan):
    """The variables of one host as (from the plans file, from the device file); the second wins."""
    from_plan = {"containers": plan["containers"], "docker_enabled": plan["docker_enabled"]}
    from_plan.update(plan["vars"])
    from_device = dict(device["vars"])
    from_device.update({"ansible_host": device["address"], "turris_customer_id": device["customer_id"],
                        "turris_plan": device["plan"]})
    return from_plan, from_device


def file_format(path, wanted):
    if wanted != "auto":
        return wanted
    lower = path.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".yml", ".yaml")):
        return "yaml"
    raise FleetError(["%s: format unknown: name it .csv, .yml or .yaml, or set devices_format" % path])


class InventoryModule(BaseInventoryPlugin):
    """Hosts, board and plan groups from an ISP's device list and plans."""

    NAME = "turris.containers.fleet"

    def verify_file(self, path):
        return (super(InventoryModule, self).verify_file(path)
                and path.endswith((".fleet.yml", ".fleet.yaml")))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        base = os.path.dirname(os.path.abspath(path))
        parent = self.get_option("group")
        if not isinstance(parent, str) or not NAME_RE.match(parent):
            raise AnsibleParserError("%s: invalid group %s: %s" % (path, shown(parent), PLAN_NAME_RULE))
        devices_path = os.path.join(base, os.path.expanduser(self.get_option("devices")))
        plans_path = os.path.join(base, os.path.expanduser(self.get_option("plans")))
        try:
            plans = check_plans(self._load_plans(plans_path), plans_path)
            fmt = file_format(devices_path, self.get_option("devices_format"))
            devices = read_devices(self._read_text(devices_path), devices_path, fmt, plans)
        except FleetError as exc:
            raise AnsibleParserError("turris.containers.fleet refused %s:\n%s" % (path, exc))
        self._populate(devices, plans, parent)

    def _load_plans(self, path):
        try:
            if UNTRUSTED_BY_DEFAULT:
                return self.loader.load_from_file(path, cache="none", trusted_as_template=True)
            return self.loader.load_from_file(path, cache="none")
        except Exception as exc:  # pylint: disable=broad-except
            raise FleetError(["%s: cannot be read as YAML: %s" % (path, to_native(exc))])

    @staticmethod
    def _read_text(path):
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except (IOError, OSError) as exc:
            raise FleetError(["%s: cannot be read: %s" % (path, exc.strerror or exc)])
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise FleetError(["%s line %d: not UTF-8 (byte %r): save the file as UTF-8"
                              % (path, line, data[exc.start:exc.start + 1])])

    def _populate(self, devices, plans, parent):
        # Nothing is added before every row passed: a refused file leaves no partial inventory.
        self.inventory.add_group(parent)
        for device in devices:
            board_group = self.inventory.add_group("board_%s" % device["board"])
            plan_group = self.inventory.add_group("plan_%s" % device["plan"])
            self.inventory.add_child(parent, board_group)
            self.inventory.add_child(parent, plan_group)
            host = self.inventory.add_host(device["host"], group=board_group)
            self.inventory.add_child(plan_group, host)
            from_plan, from_device = host_vars(device, plans[device["plan"]])
            for key, value in from_plan.items():
                if key not in from_device:
                    self.inventory.set_variable(host, key, copy.deepcopy(value))
            # The device file is data (a customer database's export): never templated.
            for key, value in from_device.items():
                self.inventory.set_variable(host, key, _as_data(value))
