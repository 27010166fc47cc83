# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2025, turris.containers contributors
#
# This doc fragment is PRIVATE to the turris.containers collection: it may change between
# releases without notice. Do not use it from other collections.

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Where UCI keeps its files: the options the UCI modules share (libuci's defaults)."""

    DOCUMENTATION = r"""
options:
  config_dir:
    description: Directory of the UCI packages (libuci's C(-c)).
    type: path
    default: /etc/config
  delta_dir:
    description: Directory of uncommitted UCI changes (libuci's save directory, C(-t)).
    type: path
    default: /tmp/.uci
"""
