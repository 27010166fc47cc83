# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: turris.containers contributors
"""Filter: which steps the container role still has to take per container, from the router's
observed containers (turris_host_info's containers), so that only those get module calls."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.turris.containers.plugins.module_utils import _lxc
from ansible_collections.turris.containers.plugins.module_utils import _lxc_plan


def container_plan(specs, observed, lxc_path, cgroup_version=None, password_digests=None, prepare_inputs=None,
                   flavor_markers=None, flavor_probes=None, flavor_started=None):
    if not isinstance(specs, list) or not all(isinstance(s, dict) and s.get('name') for s in specs):
        raise AnsibleFilterError("container_plan expects the resolved container specs (a list of dicts with a name)")
    if observed is not None and not isinstance(observed, dict):
        raise AnsibleFilterError("container_plan: observed must be turris_host_info's containers (a dict) or none, "
                                 "got %s" % type(observed).__name__)
    try:
        version = int(cgroup_version) if cgroup_version not in (None, '') else None
    except (TypeError, ValueError):
        raise AnsibleFilterError("container_plan: cgroup_version must be 1, 2 or none, got %r" % (cgroup_version,))
    try:
        return _lxc_plan.plan(specs, observed, str(lxc_path).rstrip('/') or '/', version, password_digests,
                              prepare_inputs, flavor_markers, flavor_probes, tuple(flavor_started or ()))
    except _lxc.LxcError as exc:
        raise AnsibleFilterError("container_plan: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"container_plan": container_plan}
