# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) turris.containers contributors

# This module_utils is PRIVATE to the turris.containers collection: it may change
# or go away at any time, without notice. Do not use it from other collections.

"""A router's state as the roles need it, from the text of its files: pure functions behind
the ``turris_host_info`` module (which reads the files) and the ``uci_changes`` filter (which
tells on the controller which UCI sections the ``uci`` module would change)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.turris.containers.plugins.module_utils import _uci as uci

# The UCI packages the lxc_host and docker roles manage.
UCI_PACKAGES = ('network', 'firewall', 'lxc', 'lxc-auto', 'dockerd')
# procd services whose boot-time start and process the roles manage: service -> process name.
SERVICES = {'lxc-auto': None, 'dockerd': 'dockerd'}

SERVICE_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.+-]*\Z')
SERVICE_RULE = 'a file name of /etc/init.d: letters, digits and _ . + - (not first)'
_RC_RE = re.compile(r'^S[0-9]+(.+)\Z')


def mount_of(path, mounts):
    """The mount (an item of ``_kconfig.parse_mounts``) whose file system holds ``path``, an
    absolute path without symbolic links: the longest mount point that is ``path`` or one of
    its parents; of several mounts on one point, the last (it hides the others)."""
    best = None
    for m in mounts:
        point = m['path']
        if point == '/' or path == point or path.startswith(point.rstrip('/') + '/'):
            if best is None or len(point) >= len(best['path']):
                best = m
    return best


def nearest_existing(path, exists):
    """``path`` or its nearest parent for which ``exists(p)`` is true (``/`` at worst)."""
    path = '/' + path.strip('/') if path.strip('/') else '/'
    while path != '/' and not exists(path):
        path = path.rsplit('/', 1)[0] or '/'
    return path


def enabled_services(rc_names):
    """Services with a start link in ``/etc/rc.d`` (``S<nn><name>``): what OpenWrt's
    ``/etc/init.d/<name> enabled`` answers."""
    out = set()
    for name in rc_names:
        m = _RC_RE.match(name)
        if m:
            out.add(m.group(1))
    return sorted(out)


def conf_values(text):
    """``key = value`` lines of an LXC configuration file (``/etc/lxc/lxc.conf``): the last
    value of each key; comments and blank lines skipped."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#') or '=' not in line:
            continue
        key, value = line.split('=', 1)
        out[key.strip()] = value.strip()
    return out


def uci_sections(pkg):
    """A parsed UCI package as data: [{name, type, anonymous, options}] in file order."""
    return [s.as_dict() for s in pkg.sections]


def package_from_sections(name, sections):
    """The :class:`_uci.Package` that :func:`uci_sections` described (names kept)."""
    pkg = uci.Package(name)
    for s in sections or []:
        pkg.sections.append(uci.Section(s['name'], s['type'], bool(s.get('anonymous')), s.get('options') or {}))
    pkg.n_section = len(pkg.sections)
    return pkg


def _want_field(want, key, index):
    value = want.get(key)
    if value is not None and not isinstance(value, dict if key in ('match', 'options') else str):
        raise ValueError('uci_changes: item %d: %s must be a %s, not %r'
                         % (index, key, 'mapping' if key in ('match', 'options') else 'string', value))
    return value


def uci_changes(packages, wants):
    """The items of ``wants`` that the ``uci`` module would change, judged by the same
    functions it uses (:func:`_uci.ensure_section`, :func:`_uci.remove_section`) on the
    sections in ``packages`` ({package: :func:`uci_sections` output}; a package that is not
    there is an empty one). Each want has the ``uci`` module's arguments: ``config``, and
    ``section`` or ``type`` + ``match``, ``options``, ``replace``, ``state``."""
    out = []
    for index, want in enumerate(wants):
        if not isinstance(want, dict) or not want.get('config'):
            raise ValueError('uci_changes: item %d is not a mapping with a config: %r' % (index, want))
        config = want['config']
        name = _want_field(want, 'section', index)
        type_ = _want_field(want, 'type', index)
        match = dict((k, uci.normalize_value(v, 'match.%s' % k)) for k, v in (_want_field(want, 'match', index) or {}).items())
        options = dict((k, uci.normalize_value(v, 'options.%s' % k))
                       for k, v in (_want_field(want, 'options', index) or {}).items())
        pkg = package_from_sections(config, (packages or {}).get(config))
        try:
            if want.get('state', 'present') == 'absent':
                res = uci.remove_section(pkg, name=name, type_=type_, match=match, options=list(options) or None)
            else:
                res = uci.ensure_section(pkg, name=name, type_=type_, match=match, options=options,
                                         replace=bool(want.get('replace', False)))
        except ValueError:
            # e.g. several sections match: the uci module refuses it with its own message
            out.append(want)
            continue
        if res.changed:
            out.append(want)
    return out
