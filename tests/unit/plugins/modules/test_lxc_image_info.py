# SPDX-License-Identifier: GPL-3.0-or-later
"""turris.containers.lxc_image_info run as Ansible runs it (a subprocess with JSON arguments)
against the simulator's HTTPS image server on loopback: the list read, a 404, a closed port, a
certificate from a CA the router does not trust, and refused input."""
import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit/plugins: modrun
import modrun  # noqa: E402  pylint: disable=wrong-import-position

ROOT = Path(__file__).resolve().parents[4]


def write(root, path, text):
    full = root / path.lstrip('/')
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(text)
    return full


INDEX = ("Debian;Bookworm;armv7l;default;20261201_00:00;/images/Debian/Bookworm/armv7l/default/20261201_00:00/\n"
         "Turris_OS;stable;armv7l;default;20261201_00:00;/images/Turris_OS/stable/armv7l/default/20261201_00:00/\n")


@pytest.fixture(name='served', scope='module')
def image_server_on_loopback(tmp_path_factory):
    """The simulator's HTTPS image server (tests/sim/images.py) on 127.0.0.1 with repo.turris.cz's
    layout under /lxc, and the environment in which the module trusts its private CA (the
    simulated routers have it in their trust store)."""
    sys.path.insert(0, str(ROOT / 'tests' / 'sim'))
    import images  # pylint: disable=import-outside-toplevel
    www = tmp_path_factory.mktemp('www')
    write(www, '/lxc/meta/1.0/index-system', INDEX)
    server = images.ImageServer(str(www), '127.0.0.1').start()
    try:
        yield {'server': server.server, 'ca': server.tls['ca'],
               'env': {'SSL_CERT_FILE': server.tls['ca'], 'no_proxy': '127.0.0.1', 'NO_PROXY': '127.0.0.1'}}
    finally:
        server.stop()


def run_images(env, check=False, **args):
    return modrun.run_module('lxc_image_info', args, check=check, diff=False, env=env)


def test_images_reads_the_server_s_list(served):
    server = served['server'] + '/lxc'
    res = run_images(served['env'], server=server)
    assert not res.get('failed'), res
    assert res['changed'] is False
    assert res['images'] == {'url': 'https://%s/meta/1.0/index-system' % server, 'status': 200, 'index': INDEX,
                             'error': None}
    # read-only: check mode reads the same; https:// as lxc_host_image_server may give it is dropped
    assert run_images(served['env'], check=True, server=server) == res
    assert run_images(served['env'], server='https://' + server + '/')['images'] == res['images']


def test_images_a_server_that_answers_404(served):
    res = run_images(served['env'], server=served['server'] + '/nothing')
    assert not res.get('failed'), res
    assert res['images'] == {'url': 'https://%s/nothing/meta/1.0/index-system' % served['server'], 'status': 404,
                             'index': None, 'error': 'HTTP status 404 File not found'}


def test_images_an_unreachable_server(served):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    res = run_images(served['env'], server='127.0.0.1:%d/lxc' % port)
    assert not res.get('failed'), res
    images = res['images']
    assert (images['url'], images['status'], images['index']) == \
        ('https://127.0.0.1:%d/lxc/meta/1.0/index-system' % port, None, None)
    assert 'Connection refused' in images['error'], images


def test_images_a_certificate_that_does_not_verify(tmp_path, served):
    # the router trusts another CA only: the list is not read, and the error says why
    other = tmp_path / 'other-ca.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', str(tmp_path / 'key'),
                    '-out', str(other), '-days', '1', '-subj', '/CN=another CA'], check=True, capture_output=True)
    res = run_images(dict(served['env'], SSL_CERT_FILE=str(other)), server=served['server'] + '/lxc')
    assert not res.get('failed'), res
    images = res['images']
    assert images['status'] is None and images['index'] is None
    assert 'CERTIFICATE_VERIFY_FAILED' in images['error'], images


@pytest.mark.parametrize('args, words', [
    ({}, ['missing required arguments: server']),
    ({'server': ''}, ['server', "''", 'image.server is empty']),
    ({'server': 'http://repo.turris.cz/lxc'}, ['server', "'http://repo.turris.cz/lxc'", 'HTTPS']),
    ({'server': 'repo.turris.cz/lxc\nevil'}, ['server', "'repo.turris.cz/lxc\\nevil'", 'host[:port][/path]']),
    ({'server': 'repo turris.cz'}, ['server', "'repo turris.cz'", 'host[:port][/path]']),
])
def test_images_refuses_bad_input(served, args, words):
    res = run_images(served['env'], **args)
    assert res.get('failed') is True, res
    for word in words:
        assert word in res['msg'], (word, res['msg'])
    assert 'images' not in res
