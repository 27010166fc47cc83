# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2025, turris.containers contributors
#
# This module_utils file is PRIVATE to the turris.containers collection: its API may change
# between releases without notice. Do not import it from outside the collection.
"""Which steps the container role still has to take for each container, decided on the
controller from what the router has (:func:`_lxc.observe_containers`, read once per router),
so that the role calls modules only for containers that need them and a no-op run costs no
round trip per container.

The steps, in the order the role takes them:

- ``configure``: create the container, or bring its config keys (network, limits) or its
  lxc-auto entry to the spec (``lxc_container state=present``);
- ``prepare``: the root filesystem fixes before the start (busybox template, flavor), recorded
  by the marker ``markers.prepared``;
- ``password``: root's shadow entry differs from the spec's hash;
- ``start``: the container is not running, its config changed, or its packages are not
  installed (marker ``markers.packages``);
- ``commands``: a first-boot command has not run yet (one marker per command,
  ``markers.command``, and ``markers.commands`` for the whole list);
- ``flavor``: the flavor's tasks after the start (its ``flavor_markers`` missing, or one of its
  ``flavor_probes`` absent).

What is not known (no observation, a container not running whose markers cannot be read) counts
as to do: the module then decides, as it always did.

Pure standard library plus ``_lxc`` (no Ansible import).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.turris.containers.plugins.module_utils import _lxc

STEPS = ('configure', 'prepare', 'password', 'start', 'commands', 'flavor')


def short_digest(value, length=12):
    """The first ``length`` hex digits of the SHA-1 of ``value`` as JSON, the way the role's
    templates name markers (Ansible's ``to_json | hash('sha1')``)."""
    return hashlib.sha1(json.dumps(value).encode('utf-8')).hexdigest()[:length]


def markers(spec, prepare_inputs=None):
    """The marker file names of ``spec`` (inside :data:`_lxc.MARKER_DIR` of the container):
    ``{dir, packages, commands, command: [one per command], prepared}``. ``prepare_inputs`` is what
    else the root filesystem fixes depend on (the flavor's settings)."""
    commands = list(spec.get('commands') or [])
    network = spec.get('network') or {}
    prepared = short_digest([spec.get('template'), spec.get('flavor'), bool(network.get('ipv4')),
                             prepare_inputs])
    return {
        'dir': _lxc.MARKER_DIR,
        'packages': 'packages-%s' % short_digest(list(spec.get('packages') or [])),
        'commands': 'commands-%s' % short_digest(commands),
        'command': ['command-%d-%s' % (i, short_digest(c)) for i, c in enumerate(commands)],
        'prepared': 'prepared-%s' % prepared,
    }


def desired_config(spec, cgroup_version):
    """The config keys ``lxc_container`` would manage for ``spec`` under cgroup ``cgroup_version``
    (1 or 2): ``{key: [values]}`` ([] = key absent)."""
    keys = _lxc.network_keys(dict((k, v) for k, v in (spec.get('network') or {}).items() if v is not None))
    limits = dict((k, spec.get(k)) for k in ('memory_limit', 'cpu_shares') if spec.get(k))
    if limits:
        keys.update(_lxc.limit_keys(limits, cgroup_version))
    return keys


def config_matches(spec, config, cgroup_version=None):
    """Whether ``config`` (``{key: [values]}``) already holds what ``spec`` asks. With
    ``cgroup_version`` None (not known), either version's keys may hold the limits."""
    for version in ([cgroup_version] if cgroup_version in (1, 2) else [1, 2]):
        try:
            wanted = desired_config(spec, version)
        except _lxc.LxcError:
            return False
        if all(config.get(key, []) == values for key, values in wanted.items()):
            return True
    return False


def autostart_matches(spec, observed, lxc_path):
    want = bool(spec.get('autostart'))
    if observed.get('autostart') != want:
        return False
    entry = observed.get('autostart_entry') or {}
    return not want or entry.get('lxcpath') in (None, lxc_path)


def plan_one(spec, observed, lxc_path, cgroup_version=None, password_digest=None, prepare_inputs=None,
             flavor_markers=(), flavor_probes=(), flavor_started=False):
    """``{steps: [...], markers: {...}, observed: {...} or None}`` for one resolved ``spec``.

    ``observed`` is this container's entry of :func:`_lxc.observe_containers` (None: not there,
    or not known); ``password_digest`` the SHA-256 of the root password hash the spec sets (the
    role computes it; None when there is none); ``flavor_markers`` / ``flavor_probes`` what the
    flavor's tasks after the start leave behind, ``flavor_started`` whether it has such tasks."""
    names = markers(spec, prepare_inputs)
    names['flavor'] = list(flavor_markers)
    steps = []
    exists = bool(observed) and observed.get('state') is not None
    running = exists and observed.get('state') == 'running'
    seen = set(observed.get('markers') or []) if running and observed.get('markers') is not None else None
    configured = exists and config_matches(spec, observed.get('config') or {}, cgroup_version) and \
        autostart_matches(spec, observed, lxc_path)
    if not configured:
        steps.append('configure')
    if not exists or seen is None or names['prepared'] not in seen:
        steps.append('prepare')
    if spec.get('root_password_hash') and (not running or observed.get('shadow_root') != password_digest):
        steps.append('password')
    # the start step's script records the markers: a preparation to record needs it too
    if not running or not configured or 'prepare' in steps or names['packages'] not in seen:
        steps.append('start')
    commands = spec.get('commands') or []
    if commands and (seen is None or names['commands'] not in seen or any(m not in seen for m in names['command'])):
        steps.append('commands')
    if flavor_started:
        probes = (observed or {}).get('probes') or {}
        if seen is None or any(m not in seen for m in flavor_markers) or not all(probes.get(p) for p in flavor_probes):
            steps.append('flavor')
    return {'steps': steps, 'markers': names, 'observed': observed if exists else None}


def plan(specs, observed, lxc_path, cgroup_version=None, password_digests=None, prepare_inputs=None,
         flavor_markers=None, flavor_probes=None, flavor_started=()):
    """:func:`plan_one` for every spec: ``{name: plan}``. ``observed`` is the whole result of
    :func:`_lxc.observe_containers` (None when the router was not read: everything is to do).
    ``password_digests`` ``{name: sha256 of its hash}``; ``prepare_inputs``, ``flavor_markers``
    and ``flavor_probes`` are keyed by flavor (``flavor_markers`` by container name, since they
    may depend on the container); ``flavor_started`` the flavors with tasks after the start."""
    out = {}
    for spec in specs:
        name = spec['name']
        flavor = spec.get('flavor')
        out[name] = plan_one(
            spec, (observed or {}).get(name) if observed is not None else None, lxc_path, cgroup_version,
            (password_digests or {}).get(name), (prepare_inputs or {}).get(flavor),
            (flavor_markers or {}).get(name, ()), (flavor_probes or {}).get(flavor, ()), flavor in flavor_started)
    return out
