#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) turris.containers contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: uci_kernel_config
short_description: Set kernel config symbols in a Turris OS / OpenWrt build tree
version_added: 0.1.0
description:
  - Sets, clears or removes kernel configuration symbols in one file of a Turris OS or OpenWrt
    build tree - the build C(.config) (where kernel symbol C(X) is written C(CONFIG_KERNEL_X)),
    a Turris os-build fragment such as C(configs/common/lxc) (also C(CONFIG_KERNEL_X), with
    C(CONFIG_KERNEL_X=n) for "off"), or a kernel config such as
    C(target/linux/mpc85xx/p2020/config-default) or C(target/linux/mvebu/config-5.15).
  - Other lines, comments and the order are kept; a symbol it sets keeps the place of its first
    line and is left on one line; new symbols are appended. The file is replaced atomically,
    keeping its mode and owner; when the write fails (a full disk, say) the module fails with
    C(changed=false) and the file is as it was.
  - Refuses contradictions with the reason, writing nothing - user namespaces together with XFS
    (C(XFS_FS), or C(kmod-fs-xfs) in a C(.config)) on Linux 3.8 to 3.11, where USER_NS depends on
    XFS being off and the kernel would be built without it.
author:
  - turris.containers contributors (@turris-containers)
options:
  path:
    description:
      - The config file to edit. It must exist.
      - With O(board), the top directory of a build tree may be given instead.
    type: path
    required: true
  kind:
    description:
      - How the file writes symbols. C(kernel) - C(CONFIG_X=y), C(# CONFIG_X is not set).
        C(openwrt) - a build C(.config), C(CONFIG_KERNEL_X=y), C(# CONFIG_KERNEL_X is not set).
        C(fragment) - a Turris os-build fragment, C(CONFIG_KERNEL_X=y), C(CONFIG_KERNEL_X=n).
      - C(auto) decides from the file - a kernel config header or a C(config-*) name means
        C(kernel); C(CONFIG_KERNEL_)/C(CONFIG_PACKAGE_)/C(CONFIG_TARGET_BOARD) lines mean
        C(openwrt) for a C(.config) or a file with C(is not set) lines, C(fragment) otherwise.
    type: str
    choices: [auto, kernel, openwrt, fragment]
    default: auto
  symbols:
    description:
      - Kernel symbols without C(CONFIG_) (names of C([A-Z0-9_]+)) and their values - C(y), C(m),
        C(n), a number, a string (written quoted; give it with its double quotes to write it
        verbatim), or C(absent) to remove the symbol's lines. Booleans mean C(y) and C(n).
      - Applied after I(presets), so they override them.
    type: dict
    default: {}
  packages:
    description:
      - OpenWrt packages to select in a C(.config) or fragment (C(CONFIG_PACKAGE_<name>)), with
        C(y), C(m), C(n) or C(absent); for instance C(kmod-fs-xfs) set to C(n) to allow user namespaces on
        Linux 3.8 to 3.11. Not allowed with I(kind=kernel).
    type: dict
    default: {}
  presets:
    description:
      - Symbol sets to turn on. C(containers) - the seed project's namespaces and cgroups
        (NAMESPACES, UTS_NS, IPC_NS, PID_NS, USER_NS, NET_NS, LXC_MISC (OpenWrt files only),
        CGROUPS, CGROUP_DEVICE, CGROUP_SCHED, CGROUP_CPUACCT, CGROUP_FREEZER, CPUSETS,
        RESOURCE_COUNTERS (before Linux 3.19), MEMCG, MEMCG_SWAP).
      - C(docker) - what Docker needs on top - KEYS, POSIX_MQUEUE, VETH, BRIDGE, BRIDGE_NETFILTER,
        NETFILTER_ADVANCED, NF_CONNTRACK, NF_NAT, IP_NF_IPTABLES, IP_NF_FILTER, IP_NF_NAT,
        IP_NF_TARGET_MASQUERADE, NETFILTER_XT_MATCH_ADDRTYPE, NETFILTER_XT_MATCH_CONNTRACK,
        OVERLAY_FS (OVERLAYFS_FS before Linux 3.18), EXT4_FS_SECURITY.
      - C(ppc_debian) - MATH_EMULATION, for Debian userlands on the Turris 1.x e500 (no classic
        FPU); meant for the C(mpc85xx) target only.
      - OpenWrt's C(make defconfig) keeps only the C(CONFIG_KERNEL_*) symbols its
        C(Config-kernel.in) declares; put the C(docker) and C(ppc_debian) sets into the target's
        kernel config file.
    type: list
    elements: str
    choices: [containers, docker, ppc_debian]
    default: []
  kernel_version:
    description:
      - The Linux version the tree builds (C(3.10), C(4.14.180)), for the presets and the
        USER_NS/XFS check.
      - When omitted it is read from the file's header or name (C(config-3.10)), an OpenWrt
        C(CONFIG_LINUX_3_10=y), or the C(KERNEL_PATCHVER) of the target's Makefile in the tree
        around I(path); when still unknown the newest kernel is assumed and a warning given.
    type: str
  backup:
    description:
      - Keep a timestamped copy of the file before changing it.
    type: bool
    default: false
  board:
    description:
      - The Turris board the tree builds for. With it, O(path) may be the top directory of the
        build tree; the board's kernel config in it is edited - the first of the subtarget
        configs C(target/linux/mpc85xx/p2020/config-default) or C(.../p2020-nand/config-default)
        (Turris 1.x), C(target/linux/mvebu/cortexa9/config-default) (Omnia),
        C(target/linux/mvebu/cortexa53/config-default) (MOX) that exists, else the target's
        C(config-<KERNEL_PATCHVER>) named by its C(Makefile). RV(path) is the file chosen.
      - Without it a directory in O(path) is an error.
    type: str
    choices: [turris1x, omnia, mox]
extends_documentation_fragment:
  - turris.containers._attributes
  - turris.containers._attributes.actiongroup
attributes:
  check_mode:
    support: full
    details: Computes the changes and the diff; writes nothing.
  diff_mode:
    support: full
    details: The whole file before and after.
  idempotent:
    support: full
notes:
  - The USER_NS/XFS check looks at this one file; a C(.config) and the target's kernel config
    of the same tree are checked each on its own.
seealso:
  - module: turris.containers.kernel_config_info
'''

EXAMPLES = r'''
- name: Container namespaces and cgroups in the build .config
  turris.containers.uci_kernel_config:
    path: /build/turris-os/.config
    presets: [containers]
    packages:
      kmod-fs-xfs: n

- name: Docker and Debian needs in the Turris 1.x kernel config
  turris.containers.uci_kernel_config:
    path: /build/turris-os/target/linux/mpc85xx/p2020-nand/config-default
    presets: [docker, ppc_debian]
    backup: true

- name: The Omnia's kernel config, wherever the tree keeps it
  turris.containers.uci_kernel_config:
    path: /build/turris-os
    board: omnia
    kind: kernel
    presets: [docker]

- name: One symbol in an os-build fragment
  turris.containers.uci_kernel_config:
    path: /build/os-build/configs/common/lxc
    kind: fragment
    symbols:
      CGROUP_DEBUG: n
      USER_NS: y
'''

RETURN = r'''
path:
  description: The file that was edited (or would be, in check mode).
  returned: always
  type: str
  sample: /build/turris-os/target/linux/mpc85xx/p2020/config-default
kind:
  description: The file kind used (given or detected).
  returned: always
  type: str
  sample: openwrt
kernel_version:
  description: The Linux version used for presets and checks, null when unknown.
  returned: always
  type: str
  sample: '3.10'
changes:
  description: What changed, one item per symbol as written in the file (after C(CONFIG_)).
    I(before) and I(after) are the values, C(n) for off, null for no line.
  returned: always
  type: list
  elements: dict
  sample: [{"symbol": "KERNEL_USER_NS", "before": "n", "after": "y"}]
backup_file:
  description: The backup copy, when one was made.
  returned: changed and backup requested
  type: str
  sample: /build/turris-os/.config.12345.2024-01-01@10:00:00~
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.turris.containers.plugins.module_utils import _files as files
from ansible_collections.turris.containers.plugins.module_utils import _kconfig as kconfig
from ansible_collections.turris.containers.plugins.module_utils import _validate


def _desired(module, kind, version):
    """Validate the input and build {name as written after CONFIG_: value}."""
    prefix, dummy = kconfig.KINDS[kind]
    desired = {}
    order = []

    def put(name, value):
        if name not in desired:
            order.append(name)
        desired[name] = value

    for preset in module.params['presets']:
        for sym, value in kconfig.preset_symbols(preset, kind, version):
            put(prefix + sym, value)
    for sym, value in module.params['symbols'].items():
        if not isinstance(sym, str) or not kconfig.SYMBOL_RE.match(sym):
            raise kconfig.KConfigError('symbol name %r is not valid: use kernel symbol names of '
                                       '[A-Z0-9_]+ without the CONFIG_ prefix' % (sym,))
        put(prefix + sym, kconfig.normalize_value(sym, value))
    packages = module.params['packages']
    if packages and kind == 'kernel':
        raise kconfig.KConfigError('packages %s cannot go into a kernel config (kind kernel): '
                                   'select packages in the build .config or a fragment'
                                   % ', '.join(sorted(packages)))
    for pkg, value in packages.items():
        if not isinstance(pkg, str) or not kconfig.PACKAGE_RE.match(pkg):
            raise kconfig.KConfigError('package name %r is not valid: use OpenWrt package names '
                                       'of [a-z0-9.+_-]' % (pkg,))
        value = kconfig.normalize_value(pkg, value)
        if value not in ('y', 'm', 'n', 'absent'):
            raise kconfig.KConfigError('package %s must be y, m, n or absent, got %s' % (pkg, value))
        put('PACKAGE_' + pkg, value)
    return [(name, desired[name]) for name in order]


def _check_conflicts(module, text, kind, version):
    prefix = kconfig.KINDS[kind][0]
    values = kconfig.values_of(text)

    def on(name):
        return values.get(name) in ('y', 'm')

    userns = on(prefix + 'USER_NS')
    xfs = [name for name in (prefix + 'XFS_FS', 'PACKAGE_kmod-fs-xfs' if prefix else None)
           if name and on(name)]
    if not (userns and xfs):
        return
    if version is None:
        module.warn('USER_NS and %s are both on and the Linux version is unknown: on Linux 3.8 to '
                    '3.11 the kernel cannot have both; give kernel_version to check'
                    % ', '.join('CONFIG_' + x for x in xfs))
        return
    if kconfig.userns_xfs_conflict(version):
        fix = ('set packages kmod-fs-xfs: n' if 'PACKAGE_kmod-fs-xfs' in xfs else 'set symbols XFS_FS: n')
        raise kconfig.KConfigError(
            'refusing to write %s: user namespaces (CONFIG_%sUSER_NS) cannot be combined with XFS (%s) '
            'on Linux %d.%d (3.8 to 3.11: USER_NS depends on XFS being off); %s, or set USER_NS: n'
            % (module.params['path'], prefix, ', '.join('CONFIG_' + x for x in xfs),
               version[0], version[1], fix))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            kind=dict(type='str', default='auto', choices=['auto', 'kernel', 'openwrt', 'fragment']),
            symbols=dict(type='dict', default={}),
            packages=dict(type='dict', default={}),
            presets=dict(type='list', elements='str', default=[], choices=list(kconfig.PRESETS)),
            kernel_version=dict(type='str'),
            backup=dict(type='bool', default=False),
            board=dict(type='str', choices=list(kconfig.BOARDS)),
        ),
        supports_check_mode=True,
    )
    path = module.params['path']
    if not os.path.exists(path):
        module.fail_json(msg='path %s does not exist: give an existing .config, os-build fragment '
                             'or target/linux kernel config' % path)
    if os.path.isdir(path):
        if module.params['board'] is None:
            module.fail_json(msg='path %s is a directory: give the config file inside the tree, or the '
                                 'board whose kernel config in this tree is meant' % path)
        try:
            path = kconfig.board_kernel_config(path, module.params['board'])
        except kconfig.KConfigError as exc:
            module.fail_json(msg=str(exc))
        module.params['path'] = path

    try:
        text = kconfig.read_config_bytes(path)
        if kconfig.is_gzip(path):
            raise kconfig.KConfigError('path %s is gzip-compressed: uci_kernel_config edits plain '
                                       'config files of a build tree' % path)
        kind = module.params['kind']
        if kind == 'auto':
            kind = kconfig.detect_kind(text, path)
        version_str = module.params['kernel_version']
        try:
            _validate.check_no_control('kernel_version', version_str)
        except _validate.ValidationError as exc:
            raise kconfig.KConfigError(str(exc))
        if version_str is None:
            version_str, dummy = kconfig.file_kernel_version(text, path)
        version = kconfig.parse_version(version_str) if version_str else None
        desired = _desired(module, kind, version)
        new_text, changes = kconfig.apply_changes(text, dict(desired), kconfig.KINDS[kind][1])
        _check_conflicts(module, new_text, kind, version)
    except kconfig.KConfigError as exc:
        module.fail_json(msg=str(exc))

    if version is None and any(p in ('containers', 'docker') for p in module.params['presets']):
        module.warn('the Linux version of %s is unknown: presets assume a recent kernel; give '
                    'kernel_version' % path)

    changed = new_text != text
    result = dict(changed=changed, path=path, kind=kind, kernel_version=version_str,
                  changes=[dict(symbol=n, before=b, after=a) for n, b, a in changes])
    if module._diff:
        result['diff'] = dict(before=text, after=new_text, before_header=path, after_header=path)

    if changed and not module.check_mode:
        if module.params['backup']:
            result['backup_file'] = module.backup_local(path)
        try:
            files.write_atomic(path, to_bytes(new_text, errors='surrogate_or_strict'))
        except files.FileWriteError as exc:
            if result.get('backup_file'):
                files.remove(result.pop('backup_file'))
            module.fail_json(msg='%s; the file is unchanged.' % exc, changed=False, path=path)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
