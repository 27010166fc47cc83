# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: turris.containers contributors
"""Filter: which UCI sections the uci module would change, judged on the controller from what
turris_host_info read, so that a role calls the module only for those."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.turris.containers.plugins.module_utils._host import uci_changes as _uci_changes


def uci_changes(wants, packages):
    if not isinstance(wants, list):
        raise AnsibleFilterError("uci_changes expects a list of the uci module's arguments, got %s" % type(wants).__name__)
    if not isinstance(packages, dict):
        raise AnsibleFilterError("uci_changes expects turris_host_info's uci result as its argument, got %s"
                                 % type(packages).__name__)
    try:
        return _uci_changes(packages, wants)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"uci_changes": uci_changes}
