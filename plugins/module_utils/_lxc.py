# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) turris.containers developers
#
# This module_utils is PRIVATE to the turris.containers collection: it may change
# without notice. Do not use it from other collections or from your own modules.
#
# Pure helpers for the lxc_container module: LXC config files, container names,
# network and cgroup-limit keys, download-template details and lxc-* output parsing.
# Runs on the router: Python 3.8+, standard library only.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import os
import re

from ansible_collections.turris.containers.plugins.module_utils import _uci
# A refused value is shown as _validate shows it: its repr, cut when long.
from ansible_collections.turris.containers.plugins.module_utils._validate import SHOWN_MAX, shown  # noqa: F401  pylint: disable=unused-import

# Every pattern is matched to the end of the text (\Z): '$' would also accept a trailing newline.
NAME_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z')
NAME_RULE = '1-63 characters from A-Z a-z 0-9 _ . -, starting with a letter or digit'
KEY_RE = re.compile(r'lxc\.[A-Za-z0-9_.\-]+\Z')
CONFIG_LINE_RE = re.compile(r'^\s*(lxc\.[A-Za-z0-9_.\-]+)\s*=\s?(.*?)\s*$')
HWADDR_RE = re.compile(r'([0-9a-fA-F]{2}|xx)(:([0-9a-fA-F]{2}|xx)){5}\Z')
CPUS_RE = re.compile(r'\d+(-\d+)?(,\d+(-\d+)?)*\Z')
MEMORY_RE = re.compile(r' *(\d+) *([kmgt]?)(i?b)? *\Z', re.IGNORECASE)
# Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no '/', ':' or blanks.
IFNAME_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}\Z')
IFNAME_RULE = '1-15 characters from A-Z a-z 0-9 _ . @ -, starting with a letter or digit'
# Image names become path components of the download template's cache (it removes them with
# rm -Rf): no '/', no '..', nothing but a name.
IMAGE_FIELD_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}\Z')
IMAGE_FIELD_RULE = ('1-64 characters from A-Z a-z 0-9 _ . + -, starting with a letter or digit '
                    '(a name, never a path)')
# Control characters: C0, DEL and C1. A newline in a config value is a new config line.
CONTROL_RE = re.compile(u'[\u0000-\u001f\u007f-\u009f]')
CONTROL_RULE = 'no control characters (newline, carriage return, tab, NUL, escape ...)'

# Keys that make the container what it is: replace_config never drops them unless named.
STRUCTURAL_KEYS = ('lxc.rootfs.path', 'lxc.uts.name', 'lxc.include')

NETWORK_TYPES = ('veth', 'macvlan', 'vlan', 'phys', 'empty', 'none')
NETWORK_KEYS = (
    ('type', 'type'), ('link', 'link'), ('flags', 'flags'), ('name', 'name'),
    ('hwaddr', 'hwaddr'), ('mtu', 'mtu'), ('ipv4', 'ipv4.address'), ('ipv4_gateway', 'ipv4.gateway'),
)

# limit option -> (cgroup v1 key, cgroup v2 key)
CGROUP_KEYS = {
    'memory_limit': ('lxc.cgroup.memory.limit_in_bytes', 'lxc.cgroup2.memory.max'),
    'memory_swap_limit': ('lxc.cgroup.memory.memsw.limit_in_bytes', 'lxc.cgroup2.memory.swap.max'),
    'cpu_shares': ('lxc.cgroup.cpu.shares', 'lxc.cgroup2.cpu.weight'),
    'cpus': ('lxc.cgroup.cpuset.cpus', 'lxc.cgroup2.cpuset.cpus'),
    'pids_limit': ('lxc.cgroup.pids.max', 'lxc.cgroup2.pids.max'),
}

# uname -m -> image architecture on images.linuxcontainers.org-style servers (Debian names)
_LXC_ORG_ARCH = {
    'x86_64': 'amd64', 'i686': 'i386', 'i586': 'i386', 'i386': 'i386',
    'aarch64': 'arm64', 'armv7l': 'armhf', 'armv6l': 'armel', 'armv5tel': 'armel',
    'ppc': 'powerpc', 'ppc64': 'ppc64', 'ppc64le': 'ppc64el', 's390x': 's390x',
    'riscv64': 'riscv64', 'mips': 'mips', 'mipsel': 'mipsel',
}


class LxcError(ValueError):
    """Invalid input, with a message that names the bad value and what is allowed."""


def refuse(field, value, allowed):
    """An :class:`LxcError` naming the field, the value (repr: a newline shows as \\n, cut when
    long) and what is allowed."""
    return LxcError("invalid %s %s: %s" % (field, shown(value), allowed))


def check_text(field, value):
    """Refuse a control character in ``value`` (None passes). Returns ``value``."""
    if value is not None:
        m = CONTROL_RE.search(str(value))
        if m:
            raise refuse(field, value, '%s; found %r' % (CONTROL_RULE, m.group(0)))
    return value


def check_pattern(field, value, regex, rule):
    """Refuse ``value`` unless it is a string that ``regex`` matches whole."""
    if not isinstance(value, str) or not regex.match(value):
        raise refuse(field, value, rule)
    return value


# --------------------------------------------------------------------------- names
def check_name(name, field='container name'):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise refuse(field, name, 'use ' + NAME_RULE)
    return name


# --------------------------------------------------------------------------- config files
def parse_config(text):
    """Return ``[(key, value, line)]`` for every line; ``key`` is None for comments and blanks."""
    entries = []
    for line in text.splitlines():
        m = CONFIG_LINE_RE.match(line)
        if m and not line.lstrip().startswith('#'):
            entries.append((m.group(1), m.group(2), line))
        else:
            entries.append((None, None, line))
    return entries


def config_values(text):
    """``{key: [values in file order]}``."""
    values = {}
    for key, value, dummy in parse_config(text):
        if key is not None:
            values.setdefault(key, []).append(value)
    return values


def normalize_value(value):
    """One config value (or a list of them) as a list of strings; booleans as 1/0 like LXC.
    Surrounding blanks go (LXC drops them too); control characters are the caller's to refuse."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            out.extend(normalize_value(item))
        return out
    if isinstance(value, bool):
        return ['1' if value else '0']
    if isinstance(value, dict):
        raise LxcError("config values must be strings, numbers or lists of them, not a dict: %r" % (value,))
    return [str(value).strip(' ')]


def normalize_config(config):
    """Validate the ``config`` option: ``{key: value | [values]}`` -> ``{key: [str]}``."""
    out = {}
    for key, value in (config or {}).items():
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise LxcError("invalid LXC config key %r: keys look like lxc.section.name "
                           "(see lxc.container.conf(5))" % (key,))
        values = normalize_value(value)
        for v in values:
            check_text('config value of %s' % key, v)
        out[key] = values
    return out


def _line(key, value):
    return '%s = %s' % (key, value) if value != '' else '%s =' % key


def update_config(text, desired, replace=False, keep=STRUCTURAL_KEYS):
    """Return ``text`` with every key of ``desired`` (``{key: [values]}``) holding exactly those
    values, each key written once, at the place of its first occurrence (new keys at the end).
    An empty list removes the key.  With ``replace``, keys neither desired nor in ``keep`` are
    removed.  Lines whose key already holds the desired values are kept byte for byte."""
    entries = parse_config(text)
    current = config_values(text)
    unchanged = set(k for k, v in desired.items() if current.get(k, []) == v)
    out = []
    written = set()
    for key, dummy, line in entries:
        if key is None:
            out.append(line)
        elif key in desired:
            if key in unchanged:
                out.append(line)
            elif key not in written:
                out.extend(_line(key, v) for v in desired[key])
                written.add(key)
        elif replace and key not in keep:
            continue
        else:
            out.append(line)
    added = [k for k in desired if k not in written and k not in unchanged and desired[k]]
    if added:
        if out and out[-1].strip():
            out.append('')
        for key in added:
            out.extend(_line(key, v) for v in desired[key])
    if replace:
        # removing keys can leave runs of blank lines behind; keep at most one
        squeezed = []
        for line in out:
            if not line.strip() and squeezed and not squeezed[-1].strip():
                continue
            squeezed.append(line)
        out = squeezed
    result = '\n'.join(out)
    if out:
        result += '\n'
    return result


def rootfs_path(text):
    """The filesystem path of ``lxc.rootfs.path`` (``dir:/x`` -> ``/x``), or None."""
    values = config_values(text).get('lxc.rootfs.path')
    if not values:
        return None
    value = values[-1]
    if ':' in value and not value.startswith('/'):
        value = value.split(':', 1)[1]
    return value


# --------------------------------------------------------------------------- network
def network_keys(network, index=0):
    """Validate one interface spec and return ``{lxc.net.N.key: [value] or []}`` for every key
    the module manages (options left out are removed)."""
    if not network:
        return {}
    prefix = 'lxc.net.%d.' % index
    spec = dict((k, v) for k, v in network.items() if v is not None)
    for opt in ('type', 'link', 'name', 'flags', 'hwaddr', 'ipv4', 'ipv4_gateway'):
        check_text('network.%s' % opt, spec.get(opt))
    for opt in ('link', 'name'):
        if opt in spec:
            check_pattern('network.%s' % opt, spec[opt], IFNAME_RE, 'an interface name: ' + IFNAME_RULE)
    if 'flags' in spec and spec['flags'] != 'up':
        raise refuse('network.flags', spec['flags'], "'up' (the only flag LXC knows), or leave it out")
    ntype = spec.get('type', 'veth')
    if ntype not in NETWORK_TYPES:
        raise refuse('network.type', ntype, 'one of ' + ', '.join(NETWORK_TYPES))
    ipv4 = spec.get('ipv4')
    if ipv4 is not None:
        if '/' not in ipv4:
            raise LxcError("network.ipv4 %r needs a prefix length, e.g. 192.168.1.10/24" % (ipv4,))
        try:
            iface = ipaddress.IPv4Interface(ipv4)
        except ValueError as e:
            raise LxcError("network.ipv4 %r is not an IPv4 address/prefix: %s" % (ipv4, e))
        net = iface.network
        if net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
            raise LxcError("network.ipv4 %r is the network or broadcast address of %s; "
                           "use a host address" % (ipv4, net))
        spec['ipv4'] = str(iface)
    gateway = spec.get('ipv4_gateway')
    if gateway is not None and gateway != 'auto':
        try:
            gw = ipaddress.IPv4Address(gateway)
        except ValueError as e:
            raise LxcError("network.ipv4_gateway %r is not an IPv4 address (or 'auto'): %s" % (gateway, e))
        if ipv4 is None:
            raise LxcError("network.ipv4_gateway %r needs network.ipv4 (the container's address)" % (gateway,))
        if gw not in ipaddress.IPv4Interface(spec['ipv4']).network or gw == ipaddress.IPv4Interface(spec['ipv4']).ip:
            raise LxcError("network.ipv4_gateway %s is not another host in %s (network.ipv4)"
                           % (gateway, ipaddress.IPv4Interface(spec['ipv4']).network))
        spec['ipv4_gateway'] = str(gw)
    hwaddr = spec.get('hwaddr')
    if hwaddr is not None:
        if not isinstance(hwaddr, str) or not HWADDR_RE.match(hwaddr):
            raise LxcError("network.hwaddr %r is not a MAC address like 00:16:3e:12:34:56 "
                           "(xx for random octets)" % (hwaddr,))
        first = hwaddr.split(':')[0]
        if first != 'xx' and int(first, 16) & 1:
            raise LxcError("network.hwaddr %r is a multicast address: the first octet must be even" % (hwaddr,))
        spec['hwaddr'] = hwaddr.lower()
    if ntype in ('macvlan', 'vlan', 'phys') and not spec.get('link'):
        raise LxcError("network.type %s needs network.link (the host interface)" % ntype)
    if ntype in ('empty', 'none'):
        extra = [k for k in ('link', 'ipv4', 'ipv4_gateway', 'hwaddr', 'mtu') if k in spec]
        if extra:
            raise LxcError("network.type %s takes no %s" % (ntype, ', '.join(extra)))
    if 'mtu' in spec and (not str(spec['mtu']).isdigit() or not 68 <= int(spec['mtu']) <= 65535):
        raise LxcError("network.mtu %r is outside 68-65535" % (spec['mtu'],))
    spec['type'] = ntype
    if ntype not in ('empty', 'none'):
        spec.setdefault('flags', 'up')
        spec.setdefault('name', 'eth0')
    keys = {}
    for opt, sub in NETWORK_KEYS:
        keys[prefix + sub] = [str(spec[opt])] if opt in spec else []
    return keys


# --------------------------------------------------------------------------- cgroup limits
def cgroup_version(mounts_text):
    """1 when a cgroup v1 hierarchy carries the memory or cpu controller (legacy or hybrid
    layout, which is what LXC then uses for limits), 2 on a pure cgroup2 host, None without
    cgroups.  ``mounts_text`` is /proc/self/mounts."""
    has_v2 = False
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        if fields[2] == 'cgroup':
            opts = fields[3].split(',')
            if 'memory' in opts or 'cpu' in opts:
                return 1
        elif fields[2] == 'cgroup2':
            has_v2 = True
    return 2 if has_v2 else None


def parse_memory(value, option):
    """``256M``/``1G``/``1048576`` -> bytes (binary units, like LXC and the kernel)."""
    m = MEMORY_RE.match(str(value)) if not CONTROL_RE.search(str(value)) else None
    if not m:
        raise LxcError("%s %r is not a size: use bytes or a number with K, M, G or T (e.g. 256M)" % (option, value))
    number = int(m.group(1)) * (1024 ** ' kmgt'.index((m.group(2) or ' ').lower()))
    if number <= 0:
        raise LxcError("%s %r must be more than 0" % (option, value))
    return number


def shares_to_weight(shares):
    """cgroup v1 cpu.shares (2..262144, default 1024) -> v2 cpu.weight (1..10000, default 100),
    the conversion systemd and the kernel documentation use."""
    return 1 + ((shares - 2) * 9999) // 262142


def limit_keys(limits, version):
    """``{option: value}`` -> ``{config key: [value] or []}``: the key of the running cgroup
    version gets the value, the other version's key is removed."""
    keys = {}
    given = dict((k, v) for k, v in (limits or {}).items() if v is not None)
    if not given:
        return keys
    if version not in (1, 2):
        raise LxcError("%s set but no cgroup hierarchy is mounted on this host" % ', '.join(sorted(given)))
    memory = None
    if 'memory_limit' in given:
        memory = parse_memory(given['memory_limit'], 'memory_limit')
    for option in sorted(given):
        value = given[option]
        v1, v2 = CGROUP_KEYS[option]
        if option == 'memory_limit':
            out = {1: str(memory), 2: str(memory)}
        elif option == 'memory_swap_limit':
            total = parse_memory(value, 'memory_swap_limit')
            if memory is None:
                raise LxcError("memory_swap_limit needs memory_limit (it is memory plus swap)")
            if total < memory:
                raise LxcError("memory_swap_limit %r is less than memory_limit %r" % (value, given['memory_limit']))
            # v1 limits memory+swap together, v2 limits swap alone
            out = {1: str(total), 2: str(total - memory)}
        elif option == 'cpu_shares':
            shares = int(value)
            if not 2 <= shares <= 262144:
                raise LxcError("cpu_shares %r is outside 2-262144 (1024 is the default weight)" % (value,))
            out = {1: str(shares), 2: str(shares_to_weight(shares))}
        elif option == 'cpus':
            text = str(value).replace(' ', '')
            if CONTROL_RE.search(text) or not CPUS_RE.match(text):
                raise LxcError("cpus %r is not a CPU list like 0-1 or 0,2" % (value,))
            out = {1: text, 2: text}
        elif option == 'pids_limit':
            if int(value) < 1:
                raise LxcError("pids_limit %r must be at least 1" % (value,))
            out = {1: str(int(value)), 2: str(int(value))}
        else:
            raise LxcError("unknown limit %s" % option)
        keys[v1] = [out[1]] if version == 1 else []
        keys[v2] = [out[2]] if version == 2 else []
    return keys


# --------------------------------------------------------------------------- download template
def image_arch(machine, server=''):
    """The image architecture for ``uname -m`` = ``machine``: Turris's image server names
    images by the kernel's machine name (armv7l, aarch64, ppc); images.linuxcontainers.org
    and its mirrors use Debian's names (armhf, arm64, amd64, powerpc)."""
    if 'turris.cz' in (server or ''):
        return machine
    return _LXC_ORG_ARCH.get(machine, machine)


def template_default_server(template_text):
    """The server a download template uses when not told: Turris's patched template reads
    ``uci get lxc.lxc.url`` (handled by the caller); the stock one has DOWNLOAD_SERVER=."""
    m = re.search(r'^DOWNLOAD_SERVER="?([^"\s]+)"?', template_text, re.MULTILINE)
    return m.group(1) if m else None


def template_features(template_text):
    """What a download template accepts: ``https_only`` (prefixes https:// to the server),
    ``no_validate`` (has GPG checking that --no-validate turns off)."""
    return {
        'https_only': 'https://${DOWNLOAD_SERVER}' in template_text,
        'no_validate': 'no-validate' in template_text,
    }


def server_argument(server, https_only):
    """What to pass as ``--server``: the stock template takes ``host[:port][/path]`` and
    always speaks HTTPS, so an ``https://`` prefix is dropped and ``http://`` refused."""
    check_text('image.server', server)
    server = server.strip().rstrip('/')
    if not server:
        raise LxcError("image.server is empty")
    if https_only:
        lower = server.lower()
        if lower.startswith('https://'):
            server = server[len('https://'):]
        elif lower.startswith('http://'):
            raise LxcError("image.server %r: this download template only fetches over HTTPS; "
                           "give host[:port][/path] of an HTTPS server" % (server,))
    if not server or re.search(r'\s', server) or CONTROL_RE.search(server):
        raise LxcError("image.server %r is not host[:port][/path]" % (server,))
    return server


def parse_image_list(text):
    """Rows of ``lxc-download --list`` (or ``meta/1.0/index-system``) as dicts."""
    rows = []
    for line in text.splitlines():
        if ';' in line:
            fields = line.split(';')
        else:
            fields = line.split('\t') if '\t' in line else line.split()
        if len(fields) < 5 or fields[0] in ('DIST', '---') or line.startswith('---'):
            continue
        rows.append({'dist': fields[0], 'release': fields[1], 'arch': fields[2],
                     'variant': fields[3], 'build': fields[4]})
    return rows


def describe_offer(rows, dist, arch):
    """One line saying what the server has that is close to ``dist``/``arch``."""
    same = [r for r in rows if _name_key(r['dist']) == _name_key(dist)]
    if same:
        items = sorted(set('%s/%s/%s' % (r['release'], r['arch'], r['variant']) for r in same))
        return "the server offers %s as release/arch/variant: %s" % (dist, ', '.join(items))
    for_arch = sorted(set('%s %s' % (r['dist'], r['release']) for r in rows if r['arch'] == arch))
    if for_arch:
        return "the server has no %s; for %s it offers: %s" % (dist, arch, ', '.join(for_arch))
    dists = sorted(set('%s %s (%s)' % (r['dist'], r['release'], r['arch']) for r in rows))
    return "the server has no %s; it offers: %s" % (dist, ', '.join(dists) or 'nothing')


def _name_key(text):
    """How two servers' names for one thing compare: case, and ``_``/``-``/space between words,
    do not count (repo.turris.cz/lxc: ``Debian``, ``Turris_OS``; images.linuxcontainers.org:
    ``debian``; LuCI shows ``_`` as a space)."""
    return re.sub(r'[\s_\-]+', '', str(text)).lower()


def arch_names(machine):
    """The names an image server may give the architecture of a router whose ``uname -m`` is
    ``machine``, most specific first: the kernel's own (repo.turris.cz/lxc: armv7l, aarch64, ppc)
    and Debian's (images.linuxcontainers.org: armhf, arm64, powerpc)."""
    names = [machine]
    other = _LXC_ORG_ARCH.get(machine)
    if other and other not in names:
        names.append(other)
    return names


def resolve_image(rows, dist, release, variant='default', machine=''):
    """The row of ``rows`` (:func:`parse_image_list`) that is image ``dist``/``release``/``variant``
    for a router with ``uname -m`` = ``machine``, in the server's own spelling; None when the
    server has no such image.  An exact match wins; otherwise names match without regard to case
    and word separators, and the arch by :func:`arch_names` (so one spec finds ``Debian Bookworm
    armv7l`` on Turris's server and ``debian bookworm armhf`` on images.linuxcontainers.org)."""
    variant = variant or 'default'
    arches = arch_names(machine) if machine else []
    for row in rows:
        if (row['dist'], row['release'], row['variant']) == (dist, release, variant) and (
                not arches or row['arch'] == arches[0]):
            return row
    want = (_name_key(dist), _name_key(release), _name_key(variant))
    best = None
    for row in rows:
        if (_name_key(row['dist']), _name_key(row['release']), _name_key(row['variant'])) != want:
            continue
        if arches and row['arch'] not in arches:
            continue
        rank = arches.index(row['arch']) if arches else 0
        if best is None or rank < best[0]:
            best = (rank, row)
    return best[1] if best else None


# --------------------------------------------------------------------------- decisions
# The lxc_container module asks the router, then lets these functions decide, then acts.
STATES = ('present', 'started', 'stopped', 'restarted', 'frozen', 'absent')
# The run state each requested state ends in (None: as it is).
FINAL_STATE = {'present': None, 'started': 'running', 'restarted': 'running', 'stopped': 'stopped',
               'frozen': 'frozen'}


def check_image(image):
    """Validate the ``image`` option (dist, release, arch, variant, server): names that the
    download template makes into cache paths must be names. Returns ``image``."""
    if not image:
        return image
    for field in ('dist', 'release', 'arch', 'variant'):
        value = image.get(field)
        if value is None and field in ('arch', 'variant'):
            continue
        check_text('image.%s' % field, value)
        check_pattern('image.%s' % field, value, IMAGE_FIELD_RE, IMAGE_FIELD_RULE)
    check_text('image.server', image.get('server'))
    return image


def transition(want, current, config_changed):
    """The steps (``start``, ``stop``, ``restart``, ``freeze``, ``unfreeze``) from run state
    ``current`` (``running``, ``stopped``, ``frozen``) to the requested state ``want``
    (:data:`STATES` but ``absent``). ``config_changed``: the config of an existing container
    changed, which a running one must restart for when it should run (``started``, ``frozen``)."""
    steps = []
    running = current in ('running', 'frozen')
    if want == 'started':
        if current == 'frozen':
            steps.append('unfreeze')
        if running and config_changed:
            steps.append('restart')
        elif not running:
            steps.append('start')
    elif want == 'restarted':
        steps.append('restart' if running else 'start')
    elif want == 'stopped':
        if running:
            steps.append('stop')
    elif want == 'frozen':
        if running and config_changed:
            steps += (['unfreeze'] if current == 'frozen' else []) + ['restart', 'freeze']
        elif not running:
            steps += ['start', 'freeze']
        elif current != 'frozen':
            steps.append('freeze')
    return steps


def expected_info(want, exists, info):
    """What ``lxc-info`` would say after the task, in check mode: ``{state, pid, ips}``."""
    final = dict(info) if exists else {'state': 'stopped', 'pid': None, 'ips': []}
    target = FINAL_STATE.get(want)
    if target and target != final['state']:
        final = {'state': target, 'pid': None, 'ips': []}
    return final


def lxcpath_option(lxc_path, default_lxc_path):
    """The ``option lxcpath`` of an lxc-auto entry: the path when it is not the default one."""
    if default_lxc_path is None or lxc_path != default_lxc_path.rstrip('/'):
        return lxc_path
    return None


def autostart_plan(text, name, autostart=None, timeout=None, commands=None, lxcpath=None,
                   remove=False, package='lxc-auto'):
    """The lxc-auto entry of container ``name``: returns ``(changed, new text or None, before,
    after)``. ``text`` is the file (None when missing); ``autostart`` True/False/None (None:
    keep an existing entry's presence, update its options); ``timeout``, ``commands`` (None:
    leave as is) and ``lxcpath`` (:func:`lxcpath_option`) are its options. ``remove``: the
    container goes. Raises :class:`LxcError` when ``text`` does not parse or an option holds a
    control character."""
    check_text('autostart_timeout', timeout)
    for command in commands or []:
        check_text('autostart_commands item', command)
    if autostart is None and not remove and timeout is None and not commands:
        return False, None, '', ''
    if text is None and (remove or not autostart):
        return False, None, '', ''
    try:
        pkg = _uci.parse(text or '', package)
    except _uci.UciError as e:
        raise LxcError("%s does not parse as UCI: %s" % (package, e))
    before = text or ''
    match = {'name': name}
    if remove or autostart is False:
        res = _uci.remove_section(pkg, type_='container', match=match)
    else:
        if autostart is None and not pkg.find_sections('container', match):
            return False, None, '', ''
        if len(pkg.find_sections('container', match)) > 1:
            _uci.remove_section(pkg, type_='container', match=match)
        options = {'lxcpath': lxcpath}
        if timeout is not None:
            options['timeout'] = str(timeout)
        if commands is not None:
            options['command'] = list(commands) or None
        res = _uci.ensure_section(pkg, type_='container', match=match, options=options)
    after = pkg.export(header=False)
    if not res.changed or after == before:
        return False, None, before, before
    return True, after, before, after


def download_plan(image, template_path, template_text, machine, configured_server=None):
    """How ``lxc-create -t download`` is called for ``image`` (validated by :func:`check_image`):
    returns ``{template_path, server, arch, args}``. The server is ``image.server``, else
    ``configured_server`` (``uci get lxc.lxc.url`` on Turris OS), else the template's own
    default; the arch is ``image.arch``, else the router's (``machine`` = ``uname -m``) in the
    server's naming. Raises :class:`LxcError` when no server is known or it is not usable."""
    check_image(image)
    features = template_features(template_text or '')
    server = image.get('server') or (configured_server or '').strip() or template_default_server(template_text or '')
    if not server:
        raise LxcError("image.server not given, lxc.lxc.url not set and the download template %s names "
                       "no default server: give image.server" % template_path)
    server = server_argument(server, features['https_only'])
    arch = image.get('arch') or image_arch(machine, server)
    args = ['-d', image['dist'], '-r', image['release'], '-a', arch,
            '--variant', image.get('variant') or 'default', '--server', server]
    if image.get('validate') is False and features['no_validate']:
        args.append('--no-validate')
    return {'template_path': template_path, 'server': server, 'arch': arch, 'args': args}


def image_offered(rows, image, arch):
    """Whether :func:`parse_image_list` rows list ``image`` for ``arch`` exactly."""
    want = (image['dist'], image['release'], arch, image.get('variant') or 'default')
    return any((r['dist'], r['release'], r['arch'], r['variant']) == want for r in rows)


def server_arch(rows, machine):
    """The arch of ``machine`` as the server whose index is ``rows`` spells it (``armv7l`` or
    ``armhf`` for an armv7l router); the first of :func:`arch_names` when it lists none."""
    names = arch_names(machine)
    present = set(r['arch'] for r in rows or ())
    for name in names:
        if name in present:
            return name
    return names[0]


def image_not_offered(image, machine, server, rows):
    """The one wording of "the server does not have this image": what it offers instead
    (``rows`` None: its index could not be read)."""
    return ('image %s/%s/%s for %s is not on the image server %s: %s'
            % (image['dist'], image['release'], image.get('variant') or 'default', machine, server,
               describe_offer(rows, image['dist'], server_arch(rows, machine)) if rows is not None
               else 'its image list could not be read'))


def image_missing_msg(image, plan, offer):
    """Why the download would not find ``image`` (the module's plan: ``arch``, ``server``)."""
    return image_not_offered(image, plan['arch'], plan['server'], offer)


# Where an LXC image server (the download template's --server) lists its images.
INDEX_PATH = '/meta/1.0/index-system'


def index_url(server):
    """The URL of the image list of ``server``, host[:port][/path] of an HTTPS image server as
    ``lxc_host_plan.image_server`` holds it (what the download template's ``--server`` takes)."""
    return 'https://%s%s' % (server, INDEX_PATH)


# How lxc_container runs a script in a container: the script comes on stdin, read whole
# before it runs (its commands then read /dev/null); the command line holds only this.
STDIN_SCRIPT_ARGV = ('/bin/sh', '-c', 'script=$(cat) && exec </dev/null && eval "$script"', 'sh')


# --------------------------------------------------------------------------- lxc-* output
def parse_info(text):
    """``lxc-info -s -p -i -H`` -> ``{state, pid, ips}`` (state in lower case)."""
    info = {'state': None, 'pid': None, 'ips': []}
    for line in text.splitlines():
        if ':' not in line:
            continue
        label, value = line.split(':', 1)
        label, value = label.strip(), value.strip()
        if label == 'State':
            info['state'] = value.lower()
        elif label == 'PID':
            info['pid'] = int(value) if value.isdigit() else None
        elif label == 'IP':
            info['ips'].append(value)
    return info


def tail(text, lines=15):
    return '\n'.join([l for l in (text or '').splitlines() if l.strip()][-lines:])


LOG_PREFIX_RE = re.compile(r'^lxc-\S+ \S+ \d+\.\d+ +')


def log_errors(log, stderr='', lines=10):
    """The ERROR lines of an LXC log (or its tail when there are none), without the
    ``lxc-start NAME TIMESTAMP`` prefix; the first error usually says why."""
    entries = [LOG_PREFIX_RE.sub('', l) for l in log.splitlines() if l.strip()]
    errors = [l for l in entries if l.startswith('ERROR')]
    return '\n'.join(errors[:lines] if errors else entries[-lines:]) or tail(stderr, lines)


# --------------------------------------------------------------------------- observation
# What `lxc-ls` is asked for: one call lists every container of a path with its run state.
LS_COLUMNS = ('NAME', 'STATE', 'PID', 'IPV4')
LS_ARGS = ('-f', '-F', ','.join(LS_COLUMNS))
# Where the container role keeps its markers inside a container (packages installed, commands
# run, root filesystem prepared): one empty file per thing done. Under /etc, which survives a
# restart in every image (Turris OS and OpenWrt make /var a link to the tmpfs /tmp); markers that
# earlier releases left in the legacy directory still count.
MARKER_DIR = '/etc/turris-containers'
LEGACY_MARKER_DIR = '/var/lib/turris-containers'
MARKER_DIRS = (MARKER_DIR, LEGACY_MARKER_DIR)
# Paths inside running containers whose existence the container role asks about: the control
# socket of Asterisk, which exists while it runs (the asterisk flavor).
PROBES = ('/var/run/asterisk/asterisk.ctl',)
LXC_AUTO_PATH = '/etc/config/lxc-auto'


def parse_ls(text):
    """``lxc-ls -f -F NAME,STATE,PID,IPV4`` (:data:`LS_ARGS`) -> ``{name: {state, pid, ips}}``.

    The columns are cut where the header puts them (lxc-ls pads each column to its widest
    cell; the IPv4 column joins several addresses with ``, ``). ``-`` is an empty cell. States
    are in lower case (``running``, ``stopped``, ``frozen``, ...). Columns may come in any
    order; a missing column reads as empty."""
    lines = [l for l in (text or '').splitlines() if l.strip()]
    if not lines:
        return {}
    header = lines[0]
    starts = [(m.start(), m.group(0)) for m in re.finditer(r'\S+', header)]
    out = {}
    for line in lines[1:]:
        cells = {}
        for i, (start, column) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else None
            cell = (line[start:end] if end is not None else line[start:]).strip()
            cells[column] = '' if cell == '-' else cell
        name = cells.get('NAME')
        if not name:
            continue
        pid = cells.get('PID', '')
        out[name] = {
            'state': cells.get('STATE', '').lower() or None,
            'pid': int(pid) if pid.isdigit() else None,
            'ips': [ip.strip() for ip in cells.get('IPV4', '').split(',') if ip.strip()],
        }
    return out


def autostart_entries(text, lxc_auto_name='lxc-auto'):
    """``{container name: {timeout, command, lxcpath}}`` of the ``config container`` sections of an
    lxc-auto UCI file (``text``; None or empty means no entries). Raises :class:`LxcError` when it
    does not parse."""
    if not text:
        return {}
    try:
        pkg = _uci.parse(text, lxc_auto_name)
    except _uci.UciError as e:
        raise LxcError("%s does not parse as UCI: %s" % (lxc_auto_name, e))
    out = {}
    for section in pkg.sections:
        name = section.options.get('name')
        if section.type != 'container' or not isinstance(name, str) or name in out:
            continue
        command = section.options.get('command')
        out[name] = {
            'timeout': section.options.get('timeout'),
            'command': command if isinstance(command, list) else ([command] if command else []),
            'lxcpath': section.options.get('lxcpath'),
        }
    return out


def shadow_digest(shadow_text, user='root'):
    """The SHA-256 (hex) of ``user``'s password field in a shadow file, ``''`` when the file has
    no entry for ``user``, None when the file could not be read. A digest, never the hash itself:
    the caller compares it with ``sha256(the hash it wants)``."""
    if shadow_text is None:
        return None
    for line in shadow_text.splitlines():
        fields = line.split(':')
        if len(fields) >= 2 and fields[0] == user:
            return hashlib.sha256(fields[1].encode('utf-8', 'surrogateescape')).hexdigest()
    return ''


def observe_containers(lxc_path, ls_text, read_file, list_dir, lxc_auto_text=None,
                       marker_dirs=MARKER_DIRS, probes=PROBES):
    """The observed state of every container under ``lxc_path``, from what the router has.

    Inputs (all read by the caller; this function does no I/O of its own):

    - ``lxc_path``: the containers' directory (``lxc-config lxc.lxcpath``, ``/srv/lxc`` on Turris).
    - ``ls_text``: the output of ONE command for all containers,
      ``lxc-ls`` + :data:`LS_ARGS` + ``['-P', lxc_path]`` (``lxc-ls -f -F NAME,STATE,PID,IPV4
      -P /srv/lxc``), run with ``LANG=C``; None when lxc-ls is missing (states are then None).
    - ``read_file(path)``: the text of a file, None when it is missing or unreadable. Called for
      ``<lxc_path>/<name>/config`` and, for running containers, ``/proc/<pid>/root/etc/shadow``.
    - ``list_dir(path)``: the names in a directory, None when it is missing or unreadable. Called
      for ``lxc_path``, and for running containers ``/proc/<pid>/root<marker dir>`` and the parent
      directory of every probe.
    - ``lxc_auto_text``: the text of ``/etc/config/lxc-auto`` (None when missing).
    - ``marker_dirs``: the directories of markers inside a container (:data:`MARKER_DIRS`).
    - ``probes``: absolute paths inside the containers whose existence is wanted (default
      :data:`PROBES`, what the container role asks).

    A container is a directory of ``lxc_path`` holding a ``config`` file (what lxc-ls counts),
    or a name lxc-ls lists. Files inside a container are read through ``/proc/<pid>/root`` while
    it runs (its own mount namespace: tmpfs ``/var`` or ``/tmp`` included, and symbolic links in
    its root filesystem resolve inside it, not on the router); for a container not running they
    are not read (``markers``, ``probes`` and ``shadow_root`` are None: it needs a start anyway).

    Returns ``{name: {...}}`` with, per container:

    - ``state``: ``running``, ``stopped``, ``frozen``, ... (lower case, as lxc-ls says), None when
      lxc-ls did not list it or was not run;
    - ``pid`` (int or None) and ``ips`` (IPv4 addresses, list) from lxc-ls;
    - ``config_path``; ``config``: ``{key: [values in file order]}`` of the config file ({} when
      unreadable);
    - ``rootfs``: the path of ``lxc.rootfs.path`` (``<lxc_path>/<name>/rootfs`` when unset);
    - ``autostart``: whether lxc-auto has a ``config container`` section naming it, and
      ``autostart_entry``: that section's ``{timeout, command: [...], lxcpath}`` or None;
    - ``markers``: the sorted names in the ``marker_dirs`` of a running container ([] when
      there are none), None when not running;
    - ``probes``: ``{path: bool}`` for each probe of a running container, None when not running;
    - ``shadow_root``: :func:`shadow_digest` of the container's ``/etc/shadow`` (running only).

    Raises :class:`LxcError` when ``lxc_auto_text`` does not parse as UCI."""
    lxc_path = (lxc_path or '/').rstrip('/') or '/'
    listed = parse_ls(ls_text) if ls_text is not None else {}
    auto = autostart_entries(lxc_auto_text)
    names = set(listed)
    configs = {}
    for entry in list_dir(lxc_path) or []:
        if entry.startswith('.'):
            continue
        text = read_file(os.path.join(lxc_path, entry, 'config'))
        if text is not None:
            configs[entry] = text
            names.add(entry)
    result = {}
    for name in sorted(names):
        config_path = os.path.join(lxc_path, name, 'config')
        text = configs.get(name)
        if text is None and name in listed:
            text = read_file(config_path)
        status = listed.get(name, {'state': None, 'pid': None, 'ips': []})
        root = None
        if status['state'] in ('running', 'frozen') and status['pid']:
            root = '/proc/%d/root' % status['pid']
        markers = probed = shadow = None
        if root is not None:
            markers = sorted(set(m for d in marker_dirs for m in (list_dir(root + d) or [])))
            probed = {}
            for path in probes:
                parent, base = os.path.split(path.rstrip('/'))
                probed[path] = base in (list_dir(root + parent) or [])
            shadow = shadow_digest(read_file(root + '/etc/shadow'))
        result[name] = {
            'name': name,
            'state': status['state'],
            'pid': status['pid'],
            'ips': status['ips'],
            'config_path': config_path,
            'config': config_values(text or ''),
            'rootfs': rootfs_path(text or '') or os.path.join(lxc_path, name, 'rootfs'),
            'autostart': name in auto,
            'autostart_entry': auto.get(name),
            'markers': markers,
            'probes': probed,
            'shadow_root': shadow,
        }
    return result
