#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2025, turris.containers contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: uci_info
short_description: Read a UCI package or section as structured data
version_added: 0.1.0
description:
  - Reads a UCI package (C(/etc/config/<config>)) with the collection's libuci-compatible parser
    and returns its sections, or one section, as data.
  - By default the uncommitted changes in O(delta_dir) are applied, as C(uci show) does.
author:
  - turris.containers contributors (!UNKNOWN)
extends_documentation_fragment:
  - turris.containers._attributes
  - turris.containers._attributes.info_module
  - turris.containers._attributes.actiongroup
  - turris.containers._uci
options:
  config:
    description: The UCI package (config file name in O(config_dir)).
    type: str
    required: true
  section:
    description:
      - Return only this section, by name or as C(@type[N]) (negative N counts from the end).
    type: str
  type:
    description: Return only the sections of this type.
    type: str
  pending:
    description: Apply the uncommitted changes of O(delta_dir), like C(uci show).
    type: bool
    default: true
seealso:
  - module: turris.containers.uci
"""

EXAMPLES = r"""
- name: Read the containers started at boot
  turris.containers.uci_info:
    config: lxc-auto
    type: container
  register: lxc_auto

- name: Names of those containers
  ansible.builtin.debug:
    msg: "{{ lxc_auto.sections | map(attribute='options.name') | list }}"

- name: One section
  turris.containers.uci_info:
    config: dockerd
    section: globals
  register: dockerd_globals
"""

RETURN = r"""
exists:
  description: Whether the package file exists.
  returned: always
  type: bool
  sample: true
sections:
  description: The sections (filtered by O(type) / O(section)), in file order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Real name (C(cfgXXYYYY) for anonymous sections).
      type: str
    type:
      description: Section type.
      type: str
    anonymous:
      description: Whether the section has no name in the file.
      type: bool
    ref:
      description: Reference as C(uci show) prints it (C(@type[N]) for anonymous sections).
      type: str
    index:
      description: Position in the package (0-based).
      type: int
    options:
      description: Option values; lists for UCI lists.
      type: dict
  sample: [{name: cfg02cd88, type: container, anonymous: true, ref: '@container[0]', index: 1, options: {name: c1}}]
section:
  description: The section asked for with O(section), null when it does not exist.
  returned: when O(section) is given
  type: dict
  sample: {name: globals, type: globals, anonymous: false, ref: globals, index: 0, options: {iptables: '1'}}
pending_changes:
  description: Uncommitted changes for the package, as C(uci changes) prints them.
  returned: always
  type: list
  elements: str
  sample: ["dockerd.globals.iptables='0'"]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.turris.containers.plugins.module_utils import _uci as uci
from ansible_collections.turris.containers.plugins.module_utils import _validate


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type='str', required=True),
            section=dict(type='str'),
            type=dict(type='str'),
            pending=dict(type='bool', default=True),
            config_dir=dict(type='path', default='/etc/config'),
            delta_dir=dict(type='path', default='/tmp/.uci'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name = p['config']
    if not uci.validate_package(name):
        module.fail_json(msg="Invalid config (package) name %r: UCI package names allow %s." % (name, uci.PACKAGE_RULE))
    if p['type'] is not None and not uci.validate_type(p['type']):
        module.fail_json(msg="Invalid section type %r: a UCI section type must be %s." % (p['type'], uci.TYPE_RULE))
    path = os.path.join(p['config_dir'], name)
    result = dict(changed=False, exists=os.path.exists(path), sections=[], pending_changes=[])
    if p['section'] is not None:
        result['section'] = None
    if not result['exists']:
        module.exit_json(**result)
    try:
        # a FIFO or a device in the config directory would block or never end: refused
        _validate.open_regular('UCI package file', path).close()
        pkg = uci.parse_file(path, name)
        pending = uci.pending_changes(name, [p['delta_dir']])
        result['pending_changes'] = [d.to_change_line(name) for d in pending]
        if p['pending'] and pending:
            uci.load_delta(pkg, uci.read_delta_file(os.path.join(p['delta_dir'], name)))
    except uci.UciParseError as exc:
        module.fail_json(msg='Cannot parse the UCI package %s: uci: %s' % (path, exc), **result)
    except (IOError, OSError, _validate.ValidationError) as exc:
        module.fail_json(msg='Cannot read the UCI package %s: %s' % (path, exc), **result)

    wanted = None
    if p['section'] is not None:
        try:
            wanted = pkg.lookup(p['section'])
        except uci.UciError:
            module.fail_json(msg="Invalid section reference %r: give a section name (%s) or @type[N]."
                             % (p['section'], uci.NAME_RULE), **result)
    for index, (sec, ref) in enumerate(pkg.section_refs(extended=True)):
        if p['type'] is not None and sec.type != p['type']:
            continue
        if p['section'] is not None and sec is not wanted:
            continue
        item = sec.as_dict()
        item.update(ref=ref, index=index)
        result['sections'].append(item)
        if sec is wanted:
            result['section'] = item
    module.exit_json(**result)


if __name__ == '__main__':
    main()
