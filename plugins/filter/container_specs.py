# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: turris.containers contributors
"""Filter that judges a router's container list and resolves it into container specs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.filter.core import get_encrypted_password
from ansible_collections.turris.containers.plugins.module_utils import _containers
from ansible_collections.turris.containers.plugins.module_utils import _validate


def password_salt(name, host):
    """The salt of a container's root password hash: stable for one container on one router, so
    that a re-run writes the same hash (sha256 of the container's and the router's names)."""
    return hashlib.sha256(to_bytes(u'%s%s' % (name, host), errors='surrogate_or_strict')).hexdigest()[:16]


def _index(index):
    """``(text or None, why it could not be read or None)`` from the index argument: the text, or
    the ``images`` part of ``turris.containers.lxc_image_info``'s result (``{url, status, index,
    error}``) that read it on the router, or that module's whole result."""
    if index is None or isinstance(index, str):
        return index, None
    if isinstance(index, dict) and isinstance(index.get('images'), dict):
        index = index['images']
    if isinstance(index, dict) and 'index' in index and 'error' in index:
        if isinstance(index['index'], str) and not index['error']:
            return index['index'], None
        return None, str(index['error'] or 'no index text in the result (HTTP status %s)' % index.get('status'))
    # The keys, never the values: a wrong variable passed here could hold anything.
    shown = ('a mapping with keys %s' % _validate.shown(sorted(str(k) for k in index))) if isinstance(index, dict) \
        else type(index).__name__
    raise AnsibleFilterError("container_specs: index must be the index text, the images part of "
                             "turris.containers.lxc_image_info's result ({url, status, index, error}) or null, "
                             "not %s" % shown)


def container_specs(items, plan, flavors, overrides=None, readiness=None, index=None, lxc_arch='', board='',
                    host='', existing=None, check_images=True):
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError('container_specs needs host (the inventory_hostname: it salts the password hashes)')
    if not isinstance(flavors, dict):
        raise AnsibleFilterError('container_specs needs flavors (the built-in presets), a mapping')
    text, why = _index(index)

    def hash_password(name, password):
        try:
            return get_encrypted_password(password, 'sha512', salt=password_salt(name, host))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Never the password: only which container and what kind of failure.
            raise AnsibleFilterError('container_specs: the root password of container %s could not be hashed (%s)'
                                     % (name, type(exc).__name__))

    return _containers.resolve(items, plan, flavors, readiness=readiness, index=text, lxc_arch=lxc_arch or '',
                               board=board or '', existing=existing, hash_password=hash_password,
                               check_images=boolean(check_images, strict=False), index_error=why, overrides=overrides)


def ifname_problem(value, field='interface name'):
    """'' when ``value`` is a network interface name (``_validate.check_ifname``, the one rule),
    else the refusal naming ``field``, the value and what is allowed."""
    try:
        _validate.check_ifname(field, value)
    except _validate.ValidationError as exc:
        return str(exc)
    return ''


class FilterModule(object):
    def filters(self):
        return {'container_specs': container_specs, 'ifname_problem': ifname_problem}
