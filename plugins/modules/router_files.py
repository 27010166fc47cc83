#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, turris.containers contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: router_files
short_description: Write small whole files on a Turris router in one call
version_added: 0.2.0
description:
  - Writes each file of O(files) whose content, mode or owner differs from what the router has,
    atomically (a power cut leaves the old file or the new one), and makes missing parent
    directories (mode 0755).
  - One module run, so one SSH round trip with pipelining, however many files. M(ansible.builtin.copy)
    and M(ansible.builtin.template) take five to seven round trips for each file that changes
    (a remote stat, a temporary directory, the transfer, the module, the clean-up), which on a
    router far away is most of a run's time.
  - Meant for the small files the collection's roles keep (an init script, a list the boot reads,
    a Turris updater file); the content travels as a module argument, so each file is at most 1 MiB.
  - Every path is judged before anything is written; one bad path, mode or owner writes nothing.
author:
  - turris.containers contributors (!UNKNOWN)
extends_documentation_fragment:
  - turris.containers._files
  - turris.containers._attributes
  - turris.containers._attributes.actiongroup
attributes:
  check_mode:
    support: full
    details: Nothing is written; C(changed), RV(paths) and the diff say what would be.
  diff_mode:
    support: full
    details: One diff per file that changes, its mode and owner in the header; a secret file shows only that it changed.
  idempotent:
    support: full
options:
  files:
    description:
      - The files to write on the router. A path that leaves O(root) (through a symbolic link) or
        is not a regular file (a directory, a device) is refused.
    required: true
  root:
    description:
      - The directory the paths of O(files) are under; C(/), the router's own file system, unless
        an image or a test tree is meant.
    type: path
    default: /
notes:
  - Files are replaced whole; for a line or a block in a file the user also edits, use
    M(ansible.builtin.lineinfile) or M(ansible.builtin.blockinfile).
seealso:
  - module: turris.containers.lxc_container
    description: Its O(turris.containers.lxc_container#module:files) option writes files into a container the same way.
  - module: ansible.builtin.copy
'''

EXAMPLES = r'''
- name: Install an init script and the list it reads, in one round trip
  turris.containers.router_files:
    files:
      - path: /etc/init.d/my-mounts
        mode: "0755"
        content: "{{ lookup('ansible.builtin.file', 'my-mounts') }}\n"
      - path: /etc/my-mounts/list
        content: |
          tmpfs /sys/fs/cgroup

- name: A file holding a password
  turris.containers.router_files:
    files:
      - path: /etc/ppp/chap-secrets
        mode: "0600"
        content: "customer * {{ ppp_password }} *\n"
        secret: true
'''

RETURN = r'''
paths:
  description: The paths (as given, normalized) written, or that would be in check mode.
  returned: always
  type: list
  elements: str
  sample: [/etc/init.d/my-mounts]
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.turris.containers.plugins.module_utils import _file_specs
from ansible_collections.turris.containers.plugins.module_utils import _files
from ansible_collections.turris.containers.plugins.module_utils import _validate


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(_file_specs.argument_spec(), required=True),
            root=dict(type='path', default='/'),
        ),
        supports_check_mode=True,
    )
    root = module.params['root']
    # a secret content is masked everywhere, refusals included
    for f in module.params['files']:
        if f.get('secret') and f.get('content'):
            module.no_log_values.add(f['content'])
    written = []

    def fail(msg):
        module.fail_json(msg=msg, changed=bool(written), paths=written)

    try:
        _validate.check_no_control('root', root)
        if not os.path.isabs(root) or not os.path.isdir(root):
            raise _validate.ValidationError('root', root, 'an existing directory (an absolute path)')
        specs = _file_specs.check(module.params['files'], where='root %s' % root)
        if not specs:
            raise _validate.ValidationError('files', [], 'at least one file')
        todo = _file_specs.changes(specs, root)
    except (_validate.ValidationError, OSError) as e:
        fail(to_native(e))
    diff = [dict(before_header=_file_specs.header(spec), after_header=_file_specs.header(spec), before=before, after=after)
            for spec, dummy, before, after in todo]
    if not module.check_mode:
        for spec, host, dummy, dummy2 in todo:
            try:
                _file_specs.write(spec, host, root)
            except (_files.FileWriteError, _validate.ValidationError) as e:
                fail(to_native(e))
            written.append(spec['path'])
    result = dict(changed=bool(todo), paths=[spec['path'] for spec, dummy, dummy2, dummy3 in todo])
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
