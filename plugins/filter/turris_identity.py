# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: turris.containers contributors
"""Filter that turns the bootstrap role's read of a router's identity files into facts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.turris.containers.plugins.module_utils._turris import identity


def turris_identity(text):
    if not isinstance(text, str):
        raise AnsibleFilterError("turris_identity expects the text output of a read, got %s" % type(text).__name__)
    return identity(text)


class FilterModule(object):
    def filters(self):
        return {"turris_identity": turris_identity}
