#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, turris.containers contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: lxc_image_info
short_description: Read the list of images an LXC image server offers, from the router
version_added: 0.2.0
description:
  - Reads C(https://<server>/meta/1.0/index-system), the list the download template reads
    (C(repo.turris.cz/lxc), C(images.linuxcontainers.org)), from the router, as the download template
    will fetch the images, over HTTPS with the certificate checked against the router's trust store.
  - The C(turris.containers.container) role reads it once per router, before anything changes, to
    refuse an image the server does not have for the router's architecture; its text goes as it is to
    the C(index) of the C(turris.containers.container_specs) filter.
  - A server that cannot be reached or answers an error does not fail the module; RV(images.error)
    says why.
  - A module of its own, not a part of M(turris.containers.turris_host_info), because Ansible's HTTP
    client (C(module_utils.urls)) travels with every call of a module that imports it, and that one
    runs on every router in every run.
author:
  - turris.containers contributors (!UNKNOWN)
extends_documentation_fragment:
  - turris.containers._attributes
  - turris.containers._attributes.info_module
  - turris.containers._attributes.actiongroup
options:
  server:
    description:
      - The LXC image server, C(host[:port][/path]) as the download template's C(--server) and
        C(lxc_host_plan.image_server) of the C(turris.containers.lxc_host) role take it (for example
        V(repo.turris.cz/lxc)); a leading C(https://) is dropped, C(http://) refused.
    type: str
    required: true
notes:
  - The list is read with Ansible's C(open_url) (as M(ansible.builtin.uri) reads), so the router's
    proxy variables and CA certificates apply; the certificate is always verified, and the read
    gives up after 20 seconds. On Turris OS it needs the C(python3-urllib), C(python3-email) and
    C(python3-openssl) packages, which the C(turris.containers.bootstrap) role installs.
seealso:
  - module: turris.containers.turris_host_info
  - module: turris.containers.lxc_container
"""

EXAMPLES = r"""
- name: Read the image server's list of images on the router (also in check mode)
  turris.containers.lxc_image_info:
    server: repo.turris.cz/lxc
  register: offer
  check_mode: false

- name: Stop when the router cannot read it
  ansible.builtin.fail:
    msg: "{{ offer.images.url }}: {{ offer.images.error }}"
  when: offer.images.error is not none
"""

RETURN = r"""
images:
  description: The image list of O(server) as the router reads it.
  returned: always
  type: dict
  sample: {"url": "https://repo.turris.cz/lxc/meta/1.0/index-system", "status": 200, "error": null,
           "index": "Debian;Bookworm;armv7l;default;20261201_00:00;/images/Debian/Bookworm/armv7l/default/20261201_00:00/\n"}
  contains:
    url:
      description: The URL read.
      type: str
    status:
      description: The HTTP status the server answered; null when no answer came (no connection,
        a certificate that does not verify, a timeout).
      type: int
    index:
      description: The list's text (one C(dist;release;arch;variant;build;path) line per image); null
        when it could not be read.
      type: str
    error:
      description: Why the list could not be read (the HTTP status, the connection's or the
        certificate's error); null when it was.
      type: str
"""

import http.client
import socket
from urllib.error import HTTPError, URLError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url

from ansible_collections.turris.containers.plugins.module_utils import _lxc as lxc
from ansible_collections.turris.containers.plugins.module_utils import _validate as validate

# Seconds to wait for the image server: long enough for a slow uplink, short enough that an
# unreachable server fails the check of a whole fleet quickly.
IMAGES_TIMEOUT = 20
# An image list is some kilobytes; a server that sends megabytes is not an image server.
MAX_TEXT = 4 * 1024 * 1024


def read_images(server):
    """The image list of ``server`` (already judged by ``_lxc.server_argument``): ``{url, status,
    index, error}``. Nothing raised: a read that fails says why in ``error``."""
    url = lxc.index_url(server)
    out = {'url': url, 'status': None, 'index': None, 'error': None}
    try:
        response = open_url(url, method='GET', validate_certs=True, timeout=IMAGES_TIMEOUT, use_proxy=True)
        try:
            out['status'] = response.getcode()
            body = response.read(MAX_TEXT + 1)
        finally:
            response.close()
    except HTTPError as exc:
        out['status'] = exc.code
        out['error'] = 'HTTP status %d %s' % (exc.code, to_native(exc.reason or '').strip())
        return out
    except URLError as exc:
        # no connection, a name that does not resolve, a certificate that does not verify
        out['error'] = to_native(exc.reason)
        return out
    except socket.timeout:
        out['error'] = 'no answer within %d seconds' % IMAGES_TIMEOUT
        return out
    except (UrlsConnectionError, http.client.HTTPException, OSError, ValueError) as exc:
        out['error'] = to_native(exc) or type(exc).__name__
        return out
    if len(body) > MAX_TEXT:
        out['error'] = 'the image list is over %d bytes: not an LXC image list' % MAX_TEXT
        return out
    out['index'] = body.decode('utf-8', 'replace')
    return out


def main():
    module = AnsibleModule(argument_spec=dict(server=dict(type='str', required=True)), supports_check_mode=True)
    server = module.params['server']
    try:
        server = lxc.server_argument(server, True)
    except ValueError as exc:  # _lxc.LxcError, _validate.ValidationError
        module.fail_json(msg='invalid server %s: give host[:port][/path] of an HTTPS image server (%s)'
                             % (validate.shown(server), exc))
    module.exit_json(changed=False, images=read_images(server))


if __name__ == '__main__':
    main()
