# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2025, turris.containers contributors
#
# This doc fragment is PRIVATE to the turris.containers collection: it may change between
# releases without notice. Do not use it from other collections.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The ``attributes`` every module of the collection documents, written once.

    A module extends ``turris.containers._attributes`` (what each attribute means) and
    ``turris.containers._attributes.actiongroup`` (its membership of the C(turris) action group),
    and gives ``support`` and ``details`` in its own ``attributes`` block; a read-only module
    extends ``turris.containers._attributes.info_module`` instead of writing them.
    """

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Runs in check mode, where it changes nothing and reports what it would change.
  diff_mode:
    description: In diff mode, returns what it changed (or would change, in check mode) as before and after.
  idempotent:
    description:
      - A second run with the same arguments, outside check mode, reports no change.
      - This assumes nothing else changed the router or files it manages in between.
"""

    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - The module only reads; it runs the same in check mode.
  diff_mode:
    support: N/A
    details:
      - The module only reads; there is nothing to show a difference of.
  idempotent:
    support: full
    details:
      - The module only reads.
"""

    ACTIONGROUP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/turris.containers.turris) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - turris.containers.turris
"""
