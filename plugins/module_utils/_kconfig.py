# -*- coding: utf-8 -*-
# Copyright (c) turris.containers contributors
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the turris.containers collection: no API guarantee, may change at any time.
# Used by the uci_kernel_config and kernel_config_info modules.
#
# Kernel configuration knowledge: reading and writing kernel configs, OpenWrt build
# `.config` files (CONFIG_KERNEL_X <-> kernel CONFIG_X) and Turris os-build fragments
# (CONFIG_X=n for "off"); the checks `lxc-checkconfig` (LXC 5.0.2) prints for a config;
# what LXC and Docker need from the kernel; how cgroup hierarchies are to be mounted.
# Runs on the router: Python 3.8+, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.turris.containers.plugins.module_utils import _validate

# Symbol names users give: kernel symbols without the CONFIG_ prefix.
SYMBOL_RE = re.compile(r'^[A-Z0-9_]+\Z')
# OpenWrt package names as they appear in CONFIG_PACKAGE_<name>.
PACKAGE_RE = re.compile(r'^[a-z0-9][a-z0-9.+_-]*\Z')

# Lines of a config file. Names may carry OpenWrt package names (kmod-fs-xfs).
_SET_RE = re.compile(r'^CONFIG_([A-Za-z0-9_][A-Za-z0-9_.+-]*)=(.*?)\s*$')
_UNSET_RE = re.compile(r'^#\s*CONFIG_([A-Za-z0-9_][A-Za-z0-9_.+-]*) is not set\s*$')

# kind -> (prefix of kernel symbols in the file, how "off" is written)
KINDS = {
    'kernel': ('', 'not_set'),
    'openwrt': ('KERNEL_', 'not_set'),
    'fragment': ('KERNEL_', 'n'),
}

# lxc: privileged LXC system containers; lxc_userns: with user namespaces; lxc_debian: Debian
# userlands (MATH_EMULATION on the e500); docker: what dockerd needs to run at all;
# docker_overlay: the overlay2 storage driver (else vfs); docker_iptables: Docker's own
# iptables rules (else the daemon runs with iptables off, the seed's addrtype workaround).
USES = ('lxc', 'lxc_userns', 'lxc_debian', 'docker', 'docker_overlay', 'docker_iptables')
BOARDS = ('turris1x', 'omnia', 'mox')
# OpenWrt target / subtargets per board (Turris OS build trees; older trees name the Turris 1.x
# subtarget p2020-nand). The one table: the namespaces role finds a board's kernel config
# through uci_kernel_config's board option (board_kernel_config below).
BOARD_TARGETS = {
    'turris1x': ('mpc85xx', ('p2020', 'p2020-nand')),
    'omnia': ('mvebu', ('cortexa9',)),
    'mox': ('mvebu', ('cortexa53',)),
}


class KConfigError(Exception):
    """Bad input for a kernel config operation; the message says what and why."""


# ---------------------------------------------------------------------------
# Reading raw files
# ---------------------------------------------------------------------------

def read_config_bytes(path, field='path'):
    """Return the text of a plain or gzip-compressed config file (gzip told by its magic,
    as `gunzip -t` does in lxc-checkconfig). Raises KConfigError when it cannot be read.

    Only a regular file (after symbolic links) is read, never a FIFO or a device; at most
    ``_validate.KCONFIG_MAX_BYTES`` (also once decompressed); a binary file (NUL bytes, not
    UTF-8) is refused. ``/proc/config.gz`` reports a size of 0 and is read like any file."""
    try:
        return _validate.read_text_file(field, path, _validate.KCONFIG_MAX_BYTES, gzip_ok=True)
    except _validate.ValidationError as exc:
        reason = str(exc)
        if 'corrupt gzip' in reason or 'truncated' in reason:
            raise KConfigError('cannot read kernel config %s: corrupt gzip data (%s)' % (path, reason))
        raise KConfigError('cannot read kernel config %s: %s' % (path, reason))


def is_gzip(path):
    """Whether a readable regular file is gzip-compressed (by its magic)."""
    try:
        with _validate.open_regular('path', path) as fh:
            return fh.read(2) == b'\x1f\x8b'
    except (IOError, OSError, _validate.ValidationError):
        return False


def running_config_candidates(release=None):
    """Where lxc-checkconfig looks for the running kernel's config, in its order of preference:
    /proc/config.gz, then /boot/config-$(uname -r), then the headers' .config."""
    if release is None:
        release = os.uname()[2]
    return ['/proc/config.gz',
            '/boot/config-%s' % release,
            '/lib/modules/%s/build/.config' % release]


# ---------------------------------------------------------------------------
# Parsing and writing, keeping order and comments
# ---------------------------------------------------------------------------

def parse_lines(text):
    """Split text into entries [raw_line, name, value]; name is the symbol after CONFIG_
    (None for comments and blank lines), value 'n' for "is not set" and "=n"."""
    entries = []
    for raw in text.splitlines():
        m = _SET_RE.match(raw)
        if m:
            entries.append([raw, m.group(1), m.group(2)])
            continue
        m = _UNSET_RE.match(raw)
        if m:
            entries.append([raw, m.group(1), 'n'])
            continue
        entries.append([raw, None, None])
    return entries


def values_of(text):
    """Map symbol (as written after CONFIG_) -> value; the first line of a symbol wins."""
    values = {}
    for dummy, name, value in parse_lines(text):
        if name is not None and name not in values:
            values[name] = value
    return values


def kernel_values(text, kind='kernel'):
    """Kernel symbol (without CONFIG_) -> value, undoing the KERNEL_ prefix of OpenWrt files."""
    prefix = KINDS[kind][0]
    values = {}
    for name, value in values_of(text).items():
        if prefix:
            if name.startswith(prefix):
                values[name[len(prefix):]] = value
        else:
            values[name] = value
    return values


_KERNEL_HEADER_RE = re.compile(r'^# Linux(/\S+)? .*Kernel Configuration', re.M)
_OPENWRT_SIGN_RE = re.compile(r'^(# )?CONFIG_(KERNEL_|PACKAGE_|TARGET_BOARD|DEFAULT_[a-z])', re.M)


def detect_kind(text, path=''):
    """Guess the file kind: a kernel config (full config, target/linux/*/config-*), an OpenWrt
    build .config, or a Turris os-build fragment (KERNEL_ prefix, CONFIG_X=n for off)."""
    base = os.path.basename(path or '')
    if _KERNEL_HEADER_RE.search(text) or base.startswith('config-'):
        return 'kernel'
    if base == '.config' and _OPENWRT_SIGN_RE.search(text):
        return 'openwrt'
    if _OPENWRT_SIGN_RE.search(text):
        entries = parse_lines(text)
        if any(e[1] is not None and e[0].startswith('#') for e in entries):
            return 'openwrt'
        return 'fragment'
    if base == '.config' and os.path.isdir(os.path.join(os.path.dirname(path), 'target', 'linux')):
        return 'openwrt'
    return 'kernel'


def quote_string(value):
    return '"%s"' % value.replace('\\', '\\\\').replace('"', '\\"')


def normalize_value(name, value):
    """A user-given value as written after '=' ('y', 'm', 'n', a number, a quoted string)
    or 'absent'. Raises KConfigError for values that cannot be a config value."""
    if isinstance(value, bool):
        return 'y' if value else 'n'
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise KConfigError('value of %s must be y, m, n, absent, a number or a string, got %r'
                           % (name, value))
    if _validate.control_characters(value):
        # a newline would end the CONFIG_ line and start another one in the build tree's config
        raise KConfigError(str(_validate.ValidationError(
            'value of %s' % name, value, 'y, m, n, absent, a number or a one-line string; '
            + _validate.CONTROL_RULE)))
    if value in ('y', 'm', 'n', 'absent'):
        return value
    if value in ('Y', 'M', 'N'):
        return value.lower()
    if re.match(r'^-?[0-9]+$', value) or re.match(r'^0x[0-9a-fA-F]+$', value):
        return value
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        if not _QUOTED_RE.match(value):
            raise KConfigError(str(_validate.ValidationError(
                'value of %s' % name, value, 'a quoted kconfig string: inside the quotes, " and \\ '
                'only as \\" and \\\\ (or give the value without quotes, it is quoted for you)')))
        return value
    return quote_string(value)


# A kconfig string as conf writes it: quotes around, \ and " escaped inside.
_QUOTED_RE = re.compile(r'^"([^"\\]|\\.)*"\Z', re.S)


def format_line(name, value, off_style):
    if value == 'n':
        if off_style == 'n':
            return 'CONFIG_%s=n' % name
        return '# CONFIG_%s is not set' % name
    return 'CONFIG_%s=%s' % (name, value)


def apply_changes(text, desired, off_style):
    """Apply desired {name: value|'absent'} (names as written after CONFIG_) to text.

    Keeps every other line, comment and the order; a set symbol keeps the place of its first
    line and loses its duplicates; new symbols go at the end in the order given.
    Returns (new_text, changes) with changes [(name, before, after)], before/after None when
    the line is or becomes absent."""
    entries = parse_lines(text)
    before = {}
    for dummy, name, value in entries:
        if name is not None and name not in before:
            before[name] = value
    changes = []
    out = []
    done = set()
    for raw, name, value in entries:
        if name is None or name not in desired:
            out.append(raw)
            continue
        want = desired[name]
        if want == 'absent' or name in done:
            continue
        done.add(name)
        out.append(raw if value == want else format_line(name, want, off_style))
    for name, want in desired.items():
        if want != 'absent' and name not in done:
            out.append(format_line(name, want, off_style))
    for name, want in desired.items():
        old = before.get(name)
        new = None if want == 'absent' else want
        if old != new:
            changes.append((name, old, new))
    if out == [e[0] for e in entries]:
        return text, changes
    new_text = '\n'.join(out) + '\n' if out else ''
    return new_text, changes


# ---------------------------------------------------------------------------
# Kernel versions
# ---------------------------------------------------------------------------

def parse_version(value):
    """'3.10', '3.10.49', '6.1.0-rc1' -> (3, 10); KConfigError otherwise."""
    m = re.match(r'^\s*(\d+)\.(\d+)', str(value))
    if not m:
        raise KConfigError('kernel_version must look like 3.10 or 3.10.49, got %r' % (value,))
    return int(m.group(1)), int(m.group(2))


def header_version(text):
    """The full version string of a kernel config header ('3.10.49'), or None."""
    m = re.search(r'^# Linux(?:/\S+)? (\d+\.\d+(?:\.\d+)?)\S* Kernel Configuration', text, re.M)
    if m:
        return m.group(1)
    m = re.search(r'^# Linux kernel version: (\d+\.\d+(?:\.\d+)?)', text, re.M)
    return m.group(1) if m else None


def _makefile_patchver(makefile):
    try:
        with open(makefile, 'r') as fh:
            m = re.search(r'^\s*KERNEL_PATCHVER\s*:?=\s*(\d+\.\d+)', fh.read(), re.M)
    except (IOError, OSError):
        return None
    return m.group(1) if m else None


def board_kernel_config(tree, board):
    """The kernel config of ``board`` in the build tree ``tree``: the first subtarget's
    ``target/linux/<target>/<subtarget>/config-default`` that exists, else the target's
    ``config-<KERNEL_PATCHVER>`` (the version its Makefile builds). KConfigError, saying
    what was looked for, when there is none."""
    if board not in BOARD_TARGETS:
        raise KConfigError('board %r is not a Turris board: use one of %s' % (board, ', '.join(BOARDS)))
    target, subtargets = BOARD_TARGETS[board]
    target_dir = os.path.join(tree, 'target', 'linux', target)
    tried = []
    for sub in subtargets:
        candidate = os.path.join(target_dir, sub, 'config-default')
        if os.path.isfile(candidate):
            return candidate
        tried.append(candidate)
    makefile = os.path.join(target_dir, 'Makefile')
    patchver = _makefile_patchver(makefile)
    if patchver:
        candidate = os.path.join(target_dir, 'config-' + patchver)
        if os.path.isfile(candidate):
            return candidate
        tried.append(candidate)
    else:
        tried.append('KERNEL_PATCHVER in %s' % makefile)
    raise KConfigError('no kernel config of board %s in the build tree %s: looked for %s'
                       % (board, tree, ', '.join(tried)))


def file_kernel_version(text, path=''):
    """Linux version a config file is for: its header, its name (config-3.10), an OpenWrt
    CONFIG_LINUX_3_10=y, or the KERNEL_PATCHVER of its target in the build tree around it.
    Returns (version_string, source) or (None, None)."""
    v = header_version(text)
    if v:
        return v, 'header'
    base = os.path.basename(path or '')
    m = re.match(r'^config-(\d+\.\d+)', base)
    if m:
        return m.group(1), 'file name'
    m = re.search(r'^CONFIG_LINUX_(\d+)_(\d+)=y', text, re.M)
    if m:
        return '%s.%s' % (m.group(1), m.group(2)), 'CONFIG_LINUX_%s_%s' % (m.group(1), m.group(2))
    if not path:
        return None, None
    path = os.path.abspath(path)
    parts = path.split(os.sep)
    # inside target/linux/<target>/...: that target's Makefile
    for i in range(len(parts) - 3):
        if parts[i] == 'target' and parts[i + 1] == 'linux':
            makefile = os.sep.join(parts[:i + 3] + ['Makefile'])
            v = _makefile_patchver(makefile)
            if v:
                return v, makefile
    # a .config at the top of a tree: CONFIG_TARGET_BOARD names the target
    m = re.search(r'^CONFIG_TARGET_BOARD="([^"]+)"', text, re.M)
    if m:
        makefile = os.path.join(os.path.dirname(path), 'target', 'linux', m.group(1), 'Makefile')
        v = _makefile_patchver(makefile)
        if v:
            return v, makefile
    return None, None


def userns_xfs_conflict(version):
    """Linux 3.8 to 3.11 cannot have USER_NS together with XFS (XFS was not converted to
    kuid/kgid yet: USER_NS depends on UIDGID_CONVERTED, which needs XFS_FS=n)."""
    return version is not None and (3, 8) <= tuple(version) <= (3, 11)


# ---------------------------------------------------------------------------
# Presets (build trees)
# ---------------------------------------------------------------------------

# The seed project's list for containers (OpenWrt names; LXC_MISC exists only in OpenWrt's
# Config-kernel.in, RESOURCE_COUNTERS only up to Linux 3.18).
PRESET_CONTAINERS = ('NAMESPACES', 'UTS_NS', 'IPC_NS', 'PID_NS', 'USER_NS', 'NET_NS', 'LXC_MISC',
                     'CGROUPS', 'CGROUP_DEVICE', 'CGROUP_SCHED', 'CGROUP_CPUACCT', 'CGROUP_FREEZER',
                     'CPUSETS', 'RESOURCE_COUNTERS', 'MEMCG', 'MEMCG_SWAP')
# What Docker needs on top of namespaces and cgroups (moby's check-config.sh "generally
# necessary" set, and the seed: overlay storage, EXT4_FS_SECURITY for data on ext4).
PRESET_DOCKER = ('KEYS', 'POSIX_MQUEUE', 'VETH', 'BRIDGE', 'BRIDGE_NETFILTER', 'NETFILTER_ADVANCED',
                 'NF_CONNTRACK', 'NF_NAT', 'IP_NF_IPTABLES', 'IP_NF_FILTER', 'IP_NF_NAT',
                 'IP_NF_TARGET_MASQUERADE', 'NETFILTER_XT_MATCH_ADDRTYPE',
                 'NETFILTER_XT_MATCH_CONNTRACK', 'OVERLAY_FS', 'EXT4_FS_SECURITY')
PRESET_PPC_DEBIAN = ('MATH_EMULATION',)
PRESETS = ('containers', 'docker', 'ppc_debian')


def preset_symbols(name, kind, version=None):
    """Kernel symbols -> value for a preset, adjusted to the file kind and Linux version."""
    if name == 'containers':
        syms = [s for s in PRESET_CONTAINERS
                if not (s == 'LXC_MISC' and kind == 'kernel')
                and not (s == 'RESOURCE_COUNTERS' and version is not None and tuple(version) >= (3, 19))]
    elif name == 'docker':
        syms = list(PRESET_DOCKER)
        if version is not None and tuple(version) < (3, 18):
            # before mainline overlayfs, OpenWrt carried the out-of-tree one
            syms[syms.index('OVERLAY_FS')] = 'OVERLAYFS_FS'
    elif name == 'ppc_debian':
        syms = list(PRESET_PPC_DEBIAN)
    else:
        raise KConfigError('unknown preset %r: choose from %s' % (name, ', '.join(PRESETS)))
    return [(s, 'y') for s in syms]


# ---------------------------------------------------------------------------
# lxc-checkconfig (LXC 5.0.2), the config-derived lines
# ---------------------------------------------------------------------------

def _is_set(text, pattern):
    # lxc-checkconfig: grep "$1=[y|m]" over the whole file, unanchored.
    return re.search(re.escape(pattern) + '=[y|m]', text) is not None


def _shell_int(value):
    """How `[ $X -lt N ]` sees an unquoted variable: one integer word, else an error (None)."""
    words = value.split()
    if len(words) == 1 and re.match(r'^[+-]?[0-9]+$', words[0]):
        return int(words[0])
    return None


def checkconfig_version(text):
    """(KVER_MAJOR, KVER_MINOR) exactly as lxc-checkconfig derives them (strings)."""
    headers = [line for line in text.split('\n') if re.match(r'^# Linux.*Kernel Configuration', line)]
    if not headers:
        return '100', '0'

    def sed(regex, line):
        return re.sub(regex, r'\1', line, count=1)

    major = '\n'.join(sed(r'.* ([0-9])\.[0-9]{1,2}\.[0-9]{1,3}.*', h) for h in headers).rstrip('\n')
    if major == '2':
        minor = '\n'.join(sed(r'.* 2.6.([0-9]{2}).*', h) for h in headers).rstrip('\n')
    else:
        minor = '\n'.join(sed(r'.* [0-9]\.([0-9]{1,3})\.[0-9]{1,3}.*', h) for h in headers).rstrip('\n')
    if not major:
        return '100', '0'
    return major, minor


def _cmp(a, op, b):
    if a is None:
        return False
    return {'lt': a < b, 'le': a <= b, 'eq': a == b, 'ge': a >= b, 'gt': a > b}[op]


def lxc_checks(text):
    """The config-derived lines of `lxc-checkconfig` for this config, in its order:
    [{'section', 'label', 'status' (enabled|missing|required), 'symbol'}]."""
    kmaj_s, kmin_s = checkconfig_version(text)
    kmaj, kmin = _shell_int(kmaj_s), _shell_int(kmin_s)
    checks = []

    def add(section, label, pattern, mandatory=False):
        if _is_set(text, pattern):
            status = 'enabled'
        else:
            status = 'required' if mandatory else 'missing'
        symbol = pattern[len('CONFIG_'):] if pattern.startswith('CONFIG_') else pattern
        checks.append({'section': section, 'label': label, 'status': status, 'symbol': symbol})

    s = 'Namespaces'
    add(s, 'Namespaces', 'CONFIG_NAMESPACES', True)
    add(s, 'Utsname namespace', 'CONFIG_UTS_NS')
    add(s, 'Ipc namespace', 'CONFIG_IPC_NS', True)
    add(s, 'Pid namespace', 'CONFIG_PID_NS', True)
    add(s, 'User namespace', 'CONFIG_USER_NS')
    add(s, 'Network namespace', 'CONFIG_NET_NS')
    if _cmp(kmaj, 'lt', 4) or (_cmp(kmaj, 'eq', 4) and _cmp(kmin, 'lt', 7)):
        add(s, 'Multiple /dev/pts instances', 'DEVPTS_MULTIPLE_INSTANCES')

    s = 'Control groups'
    add(s, 'Cgroups', 'CONFIG_CGROUPS')
    add(s, 'Cgroup device', 'CONFIG_CGROUP_DEVICE')
    add(s, 'Cgroup sched', 'CONFIG_CGROUP_SCHED')
    add(s, 'Cgroup cpu account', 'CONFIG_CGROUP_CPUACCT')
    if (_cmp(kmaj, 'ge', 3) and _cmp(kmin, 'ge', 6)) or _cmp(kmaj, 'gt', 3):
        add(s, 'Cgroup memory controller', 'CONFIG_MEMCG')
    else:
        add(s, 'Cgroup memory controller', 'CONFIG_CGROUP_MEM_RES_CTLR')
    if _is_set(text, 'CONFIG_SMP'):
        add(s, 'Cgroup cpuset', 'CONFIG_CPUSETS')

    s = 'Misc'
    add(s, 'Veth pair device', 'CONFIG_VETH')
    add(s, 'Macvlan', 'CONFIG_MACVLAN')
    add(s, 'Vlan', 'CONFIG_VLAN_8021Q')
    add(s, 'Bridges', 'CONFIG_BRIDGE')
    add(s, 'Advanced netfilter', 'CONFIG_NETFILTER_ADVANCED')
    if (_cmp(kmaj, 'gt', 3) and _cmp(kmin, 'gt', 6)) and _cmp(kmaj, 'lt', 5):
        add(s, 'CONFIG_NF_NAT_IPV4', 'CONFIG_NF_NAT_IPV4')
        add(s, 'CONFIG_NF_NAT_IPV6', 'CONFIG_NF_NAT_IPV6')
    for sym in ('CONFIG_IP_NF_TARGET_MASQUERADE', 'CONFIG_IP6_NF_TARGET_MASQUERADE',
                'CONFIG_NETFILTER_XT_TARGET_CHECKSUM', 'CONFIG_NETFILTER_XT_MATCH_COMMENT'):
        add(s, sym, sym)
    add(s, 'FUSE (for use with lxcfs)', 'CONFIG_FUSE_FS')

    s = 'Checkpoint/Restore'
    add(s, 'checkpoint restore', 'CONFIG_CHECKPOINT_RESTORE')
    for sym in ('CONFIG_FHANDLE', 'CONFIG_EVENTFD', 'CONFIG_EPOLL', 'CONFIG_UNIX_DIAG',
                'CONFIG_INET_DIAG', 'CONFIG_PACKET_DIAG', 'CONFIG_NETLINK_DIAG'):
        add(s, sym, sym)
    if kmaj_s == '2' and _cmp(kmin, 'lt', 33):
        add(s, 'File capabilities', 'CONFIG_SECURITY_FILE_CAPABILITIES')
    else:
        # always built in since 2.6.33: lxc-checkconfig prints "enabled" without looking
        checks.append({'section': s, 'label': 'File capabilities', 'status': 'enabled', 'symbol': None})
    return checks


# ---------------------------------------------------------------------------
# Readiness for LXC and Docker
# ---------------------------------------------------------------------------

def _enabled(values, sym):
    return values.get(sym) in ('y', 'm')


def is_e500(values):
    """Is the config for a PowerPC e500 (Turris 1.x: SPE, no classic FPU)?"""
    return _enabled(values, 'E500') or _enabled(values, 'PPC_85xx')


def requirements(version=None, e500=False):
    """What each use needs from the kernel: {use: [(symbol, alternatives, reason)]}.
    alternatives are other symbols that satisfy the need as well; version is (major, minor)
    or None (unknown: the newest kernel is assumed)."""
    v = tuple(version) if version is not None else (100, 0)
    memcg = ('MEMCG', ()) if v >= (3, 6) else ('CGROUP_MEM_RES_CTLR', ())
    base = [
        ('NAMESPACES', (), 'namespaces (lxc-checkconfig: required)'),
        ('UTS_NS', (), 'container hostname'),
        ('IPC_NS', (), 'lxc-checkconfig: required'),
        ('PID_NS', (), 'lxc-checkconfig: required'),
        ('NET_NS', (), 'container network (veth)'),
        ('CGROUPS', (), 'control groups'),
        ('CGROUP_DEVICE', (), 'device access control of containers'),
        ('CGROUP_FREEZER', (), 'freezing and stopping containers'),
        ('CGROUP_SCHED', (), 'CPU limits'),
        ('CGROUP_CPUACCT', (), 'CPU accounting'),
        ('CPUSETS', (), 'cpuset controller'),
        (memcg[0], memcg[1], 'memory limits'),
        ('VETH', (), 'container network: veth pair on the LAN bridge'),
        ('BRIDGE', (), 'the LAN bridge containers attach to'),
    ]
    lxc = list(base)
    lxc_debian = list(base)
    if e500:
        lxc_debian.append(('MATH_EMULATION', (), 'Debian userlands on the e500 (no classic FPU)'))
    lxc_userns = list(lxc) + [('USER_NS', (), 'user namespaces (unprivileged containers)')]
    overlay = ('OVERLAY_FS', ('OVERLAYFS_FS',)) if v >= (3, 18) else ('OVERLAYFS_FS', ('OVERLAY_FS',))
    # What dockerd needs to run at all; storage and iptables are judged apart, because the
    # docker role falls back to vfs and to iptables off (as the seed did on its 3.10 kernel).
    # DEVPTS_MULTIPLE_INSTANCES (before 4.8) is not required: without it containers share the
    # host's devpts instance, which the seed's Docker ran with.
    docker = list(base) + [
        ('KEYS', (), 'dockerd/runc session keyrings'),
        ('POSIX_MQUEUE', (), 'IPC namespaces of containers'),
        ('EXT4_FS_SECURITY', (), 'Docker data on ext4 (security xattrs)'),
    ]
    docker_overlay = list(docker) + [(overlay[0], overlay[1], 'overlay storage driver')]
    docker_iptables = list(docker) + [
        ('BRIDGE_NETFILTER', (), 'docker0 bridge filtering'),
        ('IP_NF_FILTER', (), 'iptables filter table'),
        ('IP_NF_NAT', ('NF_NAT_IPV4',), 'iptables nat table'),
        ('NF_NAT', (), 'NAT for published ports'),
        ('IP_NF_TARGET_MASQUERADE', (), 'outgoing NAT of containers'),
        ('NETFILTER_XT_MATCH_ADDRTYPE', (), 'docker rule -m addrtype --dst-type LOCAL'),
        ('NETFILTER_XT_MATCH_CONNTRACK', (), 'docker rule -m conntrack'),
    ]
    return {'lxc': lxc, 'lxc_userns': lxc_userns, 'lxc_debian': lxc_debian, 'docker': docker,
            'docker_overlay': docker_overlay, 'docker_iptables': docker_iptables}


def readiness(values, version=None, e500=False):
    """values: kernel symbol -> value. Returns (ready, missing, conflicts), each {use: ...}:
    ready a bool, missing the symbols to enable, conflicts the symbols to disable."""
    reqs = requirements(version, e500)
    ready, missing, conflicts = {}, {}, {}
    for use in USES:
        miss = []
        for sym, alternatives, dummy in reqs[use]:
            if not (_enabled(values, sym) or any(_enabled(values, a) for a in alternatives)):
                miss.append(sym)
        conf = []
        if use == 'lxc_userns' and userns_xfs_conflict(version) and _enabled(values, 'XFS_FS'):
            conf.append('XFS_FS')
        missing[use] = miss
        conflicts[use] = conf
        ready[use] = not miss and not conf
    return ready, missing, conflicts


# ---------------------------------------------------------------------------
# cgroup hierarchies (what the seed's Docker init script mounted)
# ---------------------------------------------------------------------------

def parse_proc_cgroups(text):
    """/proc/cgroups -> [{'name', 'hierarchy', 'enabled'}]."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith('#'):
            continue
        f = line.split()
        if len(f) < 4:
            continue
        out.append({'name': f[0], 'hierarchy': int(f[1]), 'enabled': f[3] == '1'})
    return out


def _unescape_mount(field):
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text):
    """/proc/self/mounts -> [{'source', 'path', 'fstype', 'options'}]."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 4:
            continue
        out.append({'source': _unescape_mount(f[0]), 'path': _unescape_mount(f[1]),
                    'fstype': f[2], 'options': f[3].split(',')})
    return out


def cgroup_mount_plan(cgroups, mounts, root='/sys/fs/cgroup'):
    """What to mount so every enabled controller is reachable, as the seed's Docker init script
    did (tmpfs on root, then one cgroup v1 mount per controller). Nothing when a cgroup2
    hierarchy sits on root (the controllers live there). Controllers that already share a
    hierarchy (same id in /proc/cgroups) are mounted together, as the kernel demands.
    Returns {'root', 'tmpfs': bool, 'mounts': [{'controllers', 'path'}]}."""
    root = root.rstrip('/') or '/'
    plan = {'root': root, 'tmpfs': False, 'mounts': []}
    if any(m['fstype'] == 'cgroup2' and m['path'] == root for m in mounts):
        return plan
    v2_present = any(m['fstype'] == 'cgroup2' for m in mounts)
    mounted = set()
    for m in mounts:
        if m['fstype'] == 'cgroup':
            mounted.update(m['options'])
    groups = []
    by_hierarchy = {}
    for c in cgroups:
        if not c['enabled'] or c['name'] in mounted:
            continue
        if c['hierarchy'] == 0:
            if v2_present:
                continue  # bound to the unified hierarchy
            groups.append([c['name']])
            continue
        if c['hierarchy'] not in by_hierarchy:
            by_hierarchy[c['hierarchy']] = []
            groups.append(by_hierarchy[c['hierarchy']])
        by_hierarchy[c['hierarchy']].append(c['name'])
    for names in groups:
        joined = ','.join(names)
        plan['mounts'].append({'controllers': joined, 'path': root + '/' + joined})
    if plan['mounts'] and not any(m['path'] == root for m in mounts):
        plan['tmpfs'] = True
    return plan
