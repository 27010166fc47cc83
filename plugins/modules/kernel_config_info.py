#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) turris.containers contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: kernel_config_info
short_description: Tell whether a kernel is ready for LXC and Docker, and what is missing
version_added: 0.1.0
description:
  - Reads the running kernel's configuration the way C(lxc-checkconfig) does (C(/proc/config.gz),
    then C(/boot/config-$(uname -r)), then C(/lib/modules/$(uname -r)/build/.config)) or a given
    file, plain or gzip-compressed.
  - Returns I(checks), one item per line of C(lxc-checkconfig) (LXC 5.0.2) that comes from the
    configuration, with the same label and the same status. The lines about the cgroup namespace,
    cgroup mount points, the cgroup v1 controllers and clone_children flag, setuid
    C(newuidmap)/C(newgidmap) and loaded modules describe the machine, not the configuration,
    and are left out.
  - Returns I(ready), I(missing) and I(conflicts) for six uses. C(lxc) is what a privileged LXC
    system container as this collection creates it needs - the symbols C(lxc-checkconfig) marks
    required (NAMESPACES, IPC_NS, PID_NS) plus UTS_NS, NET_NS, the cgroup controllers (CGROUPS,
    CGROUP_DEVICE, CGROUP_FREEZER, CGROUP_SCHED, CGROUP_CPUACCT, CPUSETS, MEMCG), VETH and BRIDGE.
    User namespaces are not required for C(lxc).
  - C(lxc_userns) is C(lxc) plus USER_NS (unprivileged containers); on Linux 3.8 to 3.11 it also
    needs XFS_FS off, reported in I(conflicts).
  - C(lxc_debian) is C(lxc) plus, on the Turris 1.x (PowerPC e500, no classic FPU), MATH_EMULATION
    for Debian userlands.
  - C(docker) is what dockerd needs to run at all - C(lxc) plus KEYS, POSIX_MQUEUE and
    EXT4_FS_SECURITY (Docker data on ext4). C(docker_overlay) adds overlayfs (OVERLAY_FS, or
    OVERLAYFS_FS before Linux 3.18) for the overlay2 storage driver; C(docker_iptables) adds what
    Docker's own iptables rules need (BRIDGE_NETFILTER, the iptables filter and nat pieces, the
    addrtype and conntrack matches). Without them Docker runs with the vfs driver and with
    iptables off, as the seed project did on its 3.10 kernel.
  - DEVPTS_MULTIPLE_INSTANCES (Linux before 4.8) is reported in I(checks) but not required.
  - Also returns, from C(/proc/cgroups) and C(/proc/self/mounts) of the machine it runs on, the
    cgroup hierarchies still to mount (see I(cgroup_mounts)).
author:
  - turris.containers contributors (@turris-containers)
options:
  path:
    description:
      - Kernel configuration file to read, plain or gzip-compressed (C(/proc/config.gz), a
        C(/boot/config-*), a kernel build C(.config)).
      - When omitted, the running kernel's configuration is searched as C(lxc-checkconfig) does.
    type: path
  board:
    description:
      - The Turris board the kernel runs on. C(turris1x) adds the e500 needs (MATH_EMULATION) to
        C(lxc_debian); without it they are added when the configuration itself is for an e500
        (E500 or PPC_85xx set).
    type: str
    choices: [turris1x, omnia, mox]
extends_documentation_fragment:
  - turris.containers._attributes
  - turris.containers._attributes.info_module
  - turris.containers._attributes.actiongroup
notes:
  - A symbol counts as enabled for I(checks) exactly as in C(lxc-checkconfig) (a line containing
    C(SYMBOL=y) or C(SYMBOL=m)); for I(ready) and I(missing) it is the value of its own
    C(CONFIG_SYMBOL=) line.
seealso:
  - module: turris.containers.uci_kernel_config
'''

EXAMPLES = r'''
- name: Check the running kernel
  turris.containers.kernel_config_info:
    board: turris1x
  register: kernel

- name: Stop when LXC cannot run
  ansible.builtin.assert:
    that: kernel.ready.lxc
    fail_msg: "Enable in the kernel: {{ kernel.missing.lxc | join(', ') }}"

- name: Check a kernel config before booting it
  turris.containers.kernel_config_info:
    path: /tmp/config-6.6.40
  register: candidate
'''

RETURN = r'''
config_path:
  description: The configuration file that was read.
  returned: always
  type: str
  sample: /proc/config.gz
kernel_version:
  description: Linux version from the configuration's header, if it has one.
  returned: always
  type: str
  sample: 3.10.49
e500:
  description: Whether the e500 needs were applied (board C(turris1x) or an e500 configuration).
  returned: always
  type: bool
  sample: false
checks:
  description: The configuration-derived lines of C(lxc-checkconfig), in its order.
  returned: always
  type: list
  elements: dict
  contains:
    section:
      description: The C(--- section ---) the line is printed under.
      type: str
      sample: Namespaces
    label:
      description: The text before the colon, as C(lxc-checkconfig) prints it.
      type: str
      sample: User namespace
    status:
      description: C(enabled), C(missing) or C(required) (missing and mandatory).
      type: str
      sample: missing
    symbol:
      description: The kernel symbol behind the line, without C(CONFIG_); null for
        C(File capabilities) on Linux 2.6.33 and later, where it is always built in.
      type: str
      sample: USER_NS
ready:
  description: Whether the kernel is ready for each use.
  returned: always
  type: dict
  sample: {"lxc": true, "lxc_userns": false, "lxc_debian": true, "docker": true, "docker_overlay": true,
           "docker_iptables": false}
missing:
  description: For each use, the symbols to enable (without C(CONFIG_)).
  returned: always
  type: dict
  sample: {"lxc": [], "lxc_userns": ["USER_NS"], "lxc_debian": [], "docker": [], "docker_overlay": [],
           "docker_iptables": ["NETFILTER_XT_MATCH_ADDRTYPE"]}
conflicts:
  description: For each use, the symbols to disable (without C(CONFIG_)).
  returned: always
  type: dict
  sample: {"lxc": [], "lxc_userns": ["XFS_FS"], "lxc_debian": [], "docker": [], "docker_overlay": [],
           "docker_iptables": []}
cgroup_mounts:
  description:
    - The cgroup hierarchies the kernel offers that this machine has not mounted, as the seed's
      Docker init script would mount them (a tmpfs on I(root), then one C(cgroup) mount per
      controller, or per group of controllers the kernel already binds together).
    - Null when C(/proc/cgroups) cannot be read.
  returned: always
  type: dict
  contains:
    root:
      description: Where the hierarchies go.
      type: str
      sample: /sys/fs/cgroup
    tmpfs:
      description: Whether a tmpfs must be mounted on I(root) first.
      type: bool
      sample: true
    mounts:
      description: The C(cgroup) mounts to make, each with the C(-o) controllers and the path.
      type: list
      elements: dict
      sample: [{"controllers": "cpuset", "path": "/sys/fs/cgroup/cpuset"}]
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.turris.containers.plugins.module_utils import _kconfig as kconfig


def _read_text(path):
    try:
        with open(path, 'r') as fh:
            return fh.read()
    except (IOError, OSError):
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path'),
            board=dict(type='str', choices=list(kconfig.BOARDS)),
        ),
        supports_check_mode=True,
    )
    path = module.params['path']
    if path:
        if not os.path.exists(path):
            module.fail_json(msg='path %s does not exist: give a kernel config file '
                                 '(plain or gzip)' % path)
        if os.path.isdir(path):
            module.fail_json(msg='path %s is a directory, not a kernel config file' % path)
    else:
        candidates = kconfig.running_config_candidates()
        found = [c for c in candidates if os.path.isfile(c)]
        if not found:
            module.fail_json(msg='the running kernel exposes no configuration (looked at %s): build it '
                                 'with IKCONFIG_PROC (OpenWrt: kmod-ikconfig) or give path'
                                 % ', '.join(candidates))
        path = found[0]

    try:
        text = kconfig.read_config_bytes(path)
    except kconfig.KConfigError as exc:
        module.fail_json(msg=str(exc))

    values = kconfig.kernel_values(text, 'kernel')
    version_str = kconfig.header_version(text)
    version = kconfig.parse_version(version_str) if version_str else None
    e500 = module.params['board'] == 'turris1x' or kconfig.is_e500(values)
    ready, missing, conflicts = kconfig.readiness(values, version, e500)

    plan = None
    proc_cgroups = _read_text('/proc/cgroups')
    if proc_cgroups is not None:
        plan = kconfig.cgroup_mount_plan(kconfig.parse_proc_cgroups(proc_cgroups),
                                         kconfig.parse_mounts(_read_text('/proc/self/mounts') or ''))

    module.exit_json(changed=False, config_path=path, kernel_version=version_str, e500=e500,
                     checks=kconfig.lxc_checks(text), ready=ready, missing=missing,
                     conflicts=conflicts, cgroup_mounts=plan)


if __name__ == '__main__':
    main()
