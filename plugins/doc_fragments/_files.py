# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, turris.containers contributors
#
# This doc fragment is PRIVATE to the turris.containers collection: it may change between
# releases without notice. Do not use it from other collections.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The ``files`` option of M(turris.containers.lxc_container) and
    M(turris.containers.router_files) (``module_utils/_file_specs.py``): each module gives the
    option's own description and takes the suboptions from here."""

    DOCUMENTATION = r"""
options:
  files:
    description:
      - Whole files to write, each given by its content.
    type: list
    elements: dict
    suboptions:
      path:
        description: Absolute path of the file, without C(..) components.
        type: str
        required: true
      content:
        description: The whole content of the file (text, at most 1 MiB).
        type: str
        required: true
      mode:
        description: Octal mode of the file, kept on every run.
        type: raw
        default: '0644'
      owner:
        description: Numeric user id of the file.
        type: int
        default: 0
      group:
        description: Numeric group id of the file.
        type: int
        default: 0
      secret:
        description: The content holds a secret (a password) - never shown in the diff, the result or a message.
        type: bool
        default: false
"""
