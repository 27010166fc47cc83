# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""turris_host_info run as Ansible runs it (a real process) on router trees in temp dirs and on
this host, and the uci_changes decision it feeds, against the uci module itself."""

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit/plugins: modrun
import modrun  # noqa: E402  pylint: disable=wrong-import-position

ROOT = Path(__file__).resolve().parents[4]
BOARDS = ROOT / 'tests' / 'sim' / 'boards'
sys.path.insert(0, str(modrun.COLLECTIONS))
from ansible_collections.turris.containers.plugins.module_utils import _host as host  # noqa: E402
from ansible_collections.turris.containers.plugins.module_utils import _opkg as opkg  # noqa: E402

STATUS = """Package: lxc
Version: 5.0.2-1
Depends: libc
Status: install user installed
Architecture: arm_cortex-a9_vfpv3-d16

Package: wget
Version: 1.21.4-1
Status: install user installed
Description: GNU wget
 continued line with Status: install user installed

Package: dockerd
Version: 20.10.24-1
Status: deinstall hold not-installed

Package: docker
Version: 20.10.24-1
Status: install ok unpacked
"""

MOUNTS = """overlayfs:/overlay / overlay rw,noatime,lowerdir=/,upperdir=/overlay/upper 0 0
proc /proc proc rw,nosuid,nodev,noexec,noatime 0 0
tmpfs /tmp tmpfs rw,nosuid,nodev,noatime 0 0
/dev/sda1 /srv ext4 rw,relatime 0 0
/dev/sdb1 /srv/lxc\\040data btrfs rw,relatime 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0
"""

CGROUPS = """#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t0\t1\t1
memory\t3\t1\t1
devices\t0\t1\t1
"""

NETWORK = """
config interface 'lan'
\toption device 'br-lan'
\toption proto 'static'

config device 'lxc_bridge'
\toption name 'br-lxc'
\toption type 'bridge'
\toption bridge_empty '1'
"""

FIREWALL = """
config zone
\toption name 'lxc'
\tlist network 'lxc'
\toption input 'ACCEPT'

config forwarding
\toption src 'lxc'
\toption dest 'wan'
"""


def write(root, path, text, mode='w'):
    full = root / path.lstrip('/')
    full.parent.mkdir(parents=True, exist_ok=True)
    with open(full, mode) as fh:
        fh.write(text)
    return full


@pytest.fixture(name='router')
def router_tree(tmp_path):
    """An Omnia's files as the module reads them, under a root of its own."""
    root = tmp_path / 'router'
    write(root, '/tmp/sysinfo/board_name', 'cznic,turris-omnia\n')
    write(root, '/tmp/sysinfo/model', 'Turris Omnia\n')
    write(root, '/etc/turris-version', '7.2.3\n')
    write(root, '/etc/openwrt_release', "DISTRIB_ID='TurrisOS'\nDISTRIB_TARGET='mvebu/cortexa9'\n")
    write(root, '/etc/opkg.conf', 'arch all 1\narch noarch 1\narch arm_cortex-a9_vfpv3-d16 10\n')
    write(root, '/usr/lib/opkg/status', STATUS)
    write(root, '/etc/config/network', NETWORK)
    write(root, '/etc/config/firewall', FIREWALL)
    write(root, '/etc/config/lxc', "config lxc 'lxc'\n\toption url 'repo.example.net/lxc'\n")
    write(root, '/etc/lxc/lxc.conf', '# managed\nlxc.lxcpath = /srv/old\nlxc.lxcpath = /srv/lxc\n')
    write(root, '/etc/init.d/lxc-auto', '#!/bin/sh /etc/rc.common\n')
    write(root, '/etc/init.d/dockerd', '#!/bin/sh /etc/rc.common\n')
    (root / 'etc/rc.d').mkdir(parents=True)
    os.symlink('../init.d/lxc-auto', str(root / 'etc/rc.d/S99lxc-auto'))
    os.symlink('../init.d/dockerd', str(root / 'etc/rc.d/K01dockerd'))
    write(root, '/proc/self/mounts', MOUNTS)
    write(root, '/proc/cgroups', CGROUPS)
    write(root, '/proc/1/comm', 'procd\n')
    write(root, '/proc/812/comm', 'dockerd\n')
    (root / 'proc').mkdir(exist_ok=True)
    with gzip.open(str(root / 'proc/config.gz'), 'wb') as fh:
        fh.write((BOARDS / 'omnia.config').read_bytes())
    (root / 'srv/lxc data').mkdir(parents=True)
    write(root, '/srv/lxc/web/config', 'lxc.uts.name = web\nlxc.net.0.link = br-lxc\n')
    (root / 'srv/lxc/.cache').mkdir()
    write(root, '/etc/config/lxc-auto', "config container\n\toption name 'web'\n\toption timeout '30'\n")
    return root


def run(check=False, **args):
    return modrun.run_module('turris_host_info', args, check=check, diff=False)


def test_reads_a_router_tree(router):
    res = run(root=str(router), storage_paths=['/srv/lxc data/web', '/srv/docker', '/opt/x'])
    assert not res.get('failed'), res
    assert res['changed'] is False
    ident = res['identity']
    assert (ident['board'], ident['lxc_arch'], ident['opkg_arch'], ident['os_version']) == \
        ('omnia', 'armv7l', 'arm_cortex-a9_vfpv3-d16', '7.2.3')
    # installed and unpacked count, as opkg list-installed shows them; a removed one does not
    assert res['packages'] == {'lxc': '5.0.2-1', 'wget': '1.21.4-1', 'docker': '20.10.24-1'}
    assert res['lxc'] == {'url': 'repo.example.net/lxc', 'lxcpath': '/srv/lxc'}
    store = res['storage']
    assert store['/srv/lxc data/web']['exists'] is False
    assert store['/srv/lxc data/web']['nearest'] == '/srv/lxc data'
    # the longest mount point wins, escaped names (\040) unescaped
    assert (store['/srv/lxc data/web']['mount_point'], store['/srv/lxc data/web']['fstype']) == ('/srv/lxc data', 'btrfs')
    assert (store['/srv/docker']['mount_point'], store['/srv/docker']['source']) == ('/srv', '/dev/sda1')
    assert (store['/opt/x']['mount_point'], store['/opt/x']['fstype']) == ('/', 'overlay')
    assert store['/opt/x']['free_kb'] > 0
    assert store['/opt/x']['mode'] is None
    os.chmod(str(router / 'srv/lxc data'), 0o750)
    entry = run(root=str(router), storage_paths=['/srv/lxc data'], gather=['storage'])['storage']['/srv/lxc data']
    assert (entry['exists'], entry['is_dir'], entry['mode'], entry['uid']) == (True, True, '0750', os.getuid())
    assert res['cgroup_mounts'] == {'root': '/sys/fs/cgroup', 'tmpfs': True, 'mounts': [
        {'controllers': 'cpuset', 'path': '/sys/fs/cgroup/cpuset'},
        {'controllers': 'devices', 'path': '/sys/fs/cgroup/devices'}]}
    assert res['uci']['network'][1] == {'name': 'lxc_bridge', 'type': 'device', 'anonymous': False,
                                        'options': {'name': 'br-lxc', 'type': 'bridge', 'bridge_empty': '1'}}
    assert res['uci']['firewall'][0]['anonymous'] is True
    assert res['uci']['firewall'][0]['options']['network'] == ['lxc']
    assert res['uci']['dockerd'] is None and res['uci']['lxc-auto'][0]['options'] == {'name': 'web', 'timeout': '30'}
    assert res['services'] == {'lxc-auto': {'installed': True, 'enabled': True, 'running': False},
                               'dockerd': {'installed': True, 'enabled': False, 'running': True}}
    # docker is asked only on the real root
    assert res['docker'] == {'running': True, 'info': None, 'images': [], 'error': None}
    # containers: from lxc.lxcpath, lxc-ls only on the real root (no state here)
    assert list(res['containers']) == ['web'] and res['containers_error'] is None
    web = res['containers']['web']
    assert (web['state'], web['autostart'], web['config']['lxc.net.0.link'], web['config_path']) == \
        (None, True, ['br-lxc'], '/srv/lxc/web/config')
    assert run(root=str(router), lxc_path='/srv/other', gather=['containers'])['containers'] == {}
    write(router, '/etc/config/lxc-auto', "config container 'x\n")
    bad = run(root=str(router), gather=['containers'])
    assert bad['containers'] == {} and 'lxc-auto' in bad['containers_error']


def test_kernel_verdicts_are_kernel_config_info_s(router):
    mine = run(root=str(router))['kernel']
    theirs = modrun.run_module('kernel_config_info', {'path': str(router / 'proc/config.gz'), 'board': 'omnia'}, diff=False)
    assert mine['error'] is None
    assert mine['config_path'] == '/proc/config.gz'
    for key in ('kernel_version', 'e500', 'checks', 'ready', 'missing', 'conflicts'):
        assert mine[key] == theirs[key], key
    # the board read from the tree drives the e500 needs; a given board overrides it
    t1 = run(root=str(router), board='turris1x', gather=['kernel'])['kernel']
    assert t1['e500'] is True and mine['e500'] is False


def test_check_mode_reads_the_same(router):
    assert run(root=str(router), check=True) == run(root=str(router))


def test_gather_a_subset(router):
    res = run(root=str(router), gather=['packages'])
    assert res['packages']['lxc'] == '5.0.2-1'
    assert res['identity'] is None and res['kernel'] is None and res['lxc'] is None and res['docker'] is None
    assert res['uci'] == {} and res['services'] == {} and res['storage'] == {} and res['files'] == {}
    assert res['containers'] == {}


def test_files(router):
    write(router, '/etc/updater/conf.d/x.lua', 'Install("dockerd")\n')
    os.chmod(str(router / 'etc/updater/conf.d/x.lua'), 0o640)
    write(router, '/etc/big', 'x' * (64 * 1024 + 1))
    os.symlink('/etc/shadow', str(router / 'etc/link'))
    res = run(root=str(router), files=['/etc/updater/conf.d/x.lua', '/etc/big', '/etc/none', '/etc/link', '/etc'],
              gather=['files'])['files']
    want = {'exists': True, 'content': 'Install("dockerd")\n', 'mode': '0640', 'uid': os.getuid(), 'gid': os.getgid()}
    assert res['/etc/updater/conf.d/x.lua'] == want
    assert res['/etc/big']['exists'] is True and res['/etc/big']['content'] is None
    assert res['/etc/none'] == {'exists': False, 'content': None, 'mode': None, 'uid': None, 'gid': None}
    # a link is not followed (it could name any file of the router), a directory has no content
    assert res['/etc/link']['exists'] is True and res['/etc/link']['content'] is None
    assert res['/etc']['content'] is None


def test_parts_that_cannot_be_read(router):
    (router / 'proc/config.gz').unlink()
    (router / 'proc/cgroups').unlink()
    write(router, '/etc/config/network', "config interface 'lan\n")
    res = run(root=str(router), uci_packages=['network'])
    assert not res.get('failed'), res
    assert 'exposes no configuration' in res['kernel']['error'] and 'kernel_config_path' in res['kernel']['error']
    assert res['cgroup_mounts'] is None
    assert 'does not parse' in res['uci']['network']['error']
    res = run(root=str(router), kernel_config_path='/nowhere/config', gather=['kernel'])
    assert res['kernel'] == {'error': 'kernel_config_path /nowhere/config is not a file: give a kernel config file (plain or gzip)'}
    shutil.rmtree(str(router / 'usr'))
    assert run(root=str(router), gather=['packages'])['packages'] == {}


@pytest.mark.parametrize('args, words', [
    ({'storage_paths': ['srv/lxc']}, ['storage_paths', "'srv/lxc'", 'absolute']),
    ({'storage_paths': ['/srv/lxc\n']}, ['storage_paths', 'control characters']),
    ({'files': ['etc/x']}, ['files', "'etc/x'", 'absolute']),
    ({'services': ['../../bin/sh']}, ['services', "'../../bin/sh'", '/etc/init.d']),
    ({'uci_packages': ['net work']}, ['uci_packages', "'net work'", 'letters']),
    ({'gather': ['everything']}, ['gather', 'everything', 'identity']),
    ({'board': 'turris2'}, ['board', 'turris2', 'omnia']),
])
def test_refuses_bad_input(router, args, words):
    res = run(root=str(router), **args)
    assert res.get('failed') is True, res
    for word in words:
        assert word in res['msg'], (word, res['msg'])


def test_on_this_host():
    """The real root: the file system of a path is the one df names."""
    res = run(storage_paths=['/tmp/turris-host-info/not/yet'], gather=['storage', 'services', 'docker'])
    assert not res.get('failed'), res
    entry = res['storage']['/tmp/turris-host-info/not/yet']
    df = subprocess.run(['df', '-P', '/tmp'], capture_output=True, text=True, check=True).stdout.splitlines()[-1].split()
    assert entry['exists'] is False and entry['nearest'] == os.path.realpath('/tmp')
    assert entry['mount_point'] == df[-1]
    assert entry['size_kb'] == int(df[1])


# -- the decision the roles take from the result: would the uci module change this? -------------

def test_installed_packages_parse():
    assert list(opkg.installed_packages(STATUS)) == ['lxc', 'wget', 'docker']
    assert opkg.installed_packages('') == {}


def test_mount_of_picks_the_deepest_and_last():
    mounts = [{'path': '/', 'fstype': 'overlay', 'source': 'o'}, {'path': '/srv', 'fstype': 'ext4', 'source': 'a'},
              {'path': '/srv', 'fstype': 'btrfs', 'source': 'b'}, {'path': '/srvx', 'fstype': 'tmpfs', 'source': 't'}]
    assert host.mount_of('/srv/lxc', mounts)['source'] == 'b'
    assert host.mount_of('/srvx', mounts)['source'] == 't'
    assert host.mount_of('/srvy', mounts)['source'] == 'o'
    assert host.nearest_existing('/a/b/c/', lambda p: p in ('/a',)) == '/a'
    assert host.enabled_services(['S99lxc-auto', 'K10dockerd', 'S20network', 'README']) == ['lxc-auto', 'network']


def _uci_module_changes(tmp_path, text, want, check=True):
    cdir = tmp_path / 'config'
    cdir.mkdir(exist_ok=True)
    (cdir / want['config']).write_text(text)
    args = dict(want, config_dir=str(cdir), delta_dir=str(tmp_path / 'delta'))
    res = modrun.run_module('uci', args, check=check)
    assert not res.get('failed'), res
    return res['changed']


WANTS = [
    {'config': 'network', 'section': 'lxc_bridge', 'type': 'device',
     'options': {'name': 'br-lxc', 'type': 'bridge', 'bridge_empty': '1'}},
    {'config': 'network', 'section': 'lxc_bridge', 'type': 'device', 'options': {'bridge_empty': True}},
    {'config': 'network', 'section': 'lxc_bridge', 'type': 'interface', 'options': {}},
    {'config': 'network', 'section': 'lxc_bridge', 'type': 'device', 'options': {'name': 'br-lxc'}, 'replace': True},
    {'config': 'network', 'section': 'lxc', 'type': 'interface', 'options': {'proto': 'static'}},
    {'config': 'network', 'section': 'lan', 'options': {'ipaddr': ''}},
    {'config': 'firewall', 'type': 'zone', 'match': {'name': 'lxc'}, 'options': {'network': ['lxc'], 'input': 'ACCEPT'}},
    {'config': 'firewall', 'type': 'zone', 'match': {'name': 'lxc'}, 'options': {'network': 'lxc'}},
    {'config': 'firewall', 'type': 'forwarding', 'match': {'src': 'lxc', 'dest': 'wan'}},
    {'config': 'firewall', 'type': 'forwarding', 'match': {'src': 'lan', 'dest': 'lxc'}},
    {'config': 'dockerd', 'section': 'globals', 'type': 'globals', 'options': {'iptables': False}},
]


def test_uci_changes_agree_with_the_uci_module(tmp_path, router):
    """Each want: the filter's verdict is what the uci module itself reports (in check mode)."""
    seen = run(root=str(router))['uci']
    texts = {'network': NETWORK, 'firewall': FIREWALL, 'dockerd': ''}
    verdicts = []
    for want in WANTS:
        module_says = _uci_module_changes(tmp_path, texts[want['config']], want)
        filter_says = host.uci_changes(seen, [want]) == [want]
        assert filter_says == module_says, want
        verdicts.append(module_says)
    # the set is not trivial: both verdicts occur
    assert verdicts == [False, False, True, True, True, False, False, True, False, True, True]
    assert host.uci_changes(seen, WANTS) == [w for w, v in zip(WANTS, verdicts) if v]


def test_uci_changes_refuses_malformed_wants():
    with pytest.raises(ValueError, match='item 0 is not a mapping with a config'):
        host.uci_changes({}, [{'section': 'x'}])
    with pytest.raises(ValueError, match='item 1: options must be a mapping'):
        host.uci_changes({}, [{'config': 'a', 'section': 'x', 'type': 't'}, {'config': 'a', 'section': 'x', 'options': 'x'}])
