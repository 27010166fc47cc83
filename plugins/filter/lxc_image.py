# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: turris.containers contributors
"""Filter that finds a container image on an LXC image server's index, in the server's spelling."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.turris.containers.plugins.module_utils._lxc import (
    describe_offer, parse_image_list, resolve_image, server_arch)


def lxc_image(index, image, machine):
    if not isinstance(index, str):
        raise AnsibleFilterError("lxc_image expects the text of meta/1.0/index-system, got %s" % type(index).__name__)
    if not isinstance(image, dict) or not image.get('dist') or not image.get('release'):
        raise AnsibleFilterError("lxc_image needs an image {dist, release[, variant]}, got %r" % (image,))
    if not isinstance(machine, str) or not machine:
        raise AnsibleFilterError("lxc_image needs the router's machine name (uname -m, e.g. armv7l), got %r"
                                 % (machine,))
    rows = parse_image_list(index)
    variant = image.get('variant') or 'default'
    row = resolve_image(rows, str(image['dist']), str(image['release']), str(variant), machine)
    found = None
    if row:
        found = {'dist': row['dist'], 'release': row['release'], 'arch': row['arch'], 'variant': row['variant']}
    return {'image': found, 'offer': describe_offer(rows, str(image['dist']), server_arch(rows, machine))
            if not found else ''}


class FilterModule(object):
    def filters(self):
        return {"lxc_image": lxc_image}
