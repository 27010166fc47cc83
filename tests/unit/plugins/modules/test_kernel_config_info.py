# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""kernel_config_info run as Ansible runs it (a real process) on the golden configs and this host."""

import gzip
import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit/plugins: modrun
import modrun  # noqa: E402  pylint: disable=wrong-import-position

MACHINE = {'Cgroup namespace', 'Cgroup v1 clone_children flag', 'Cgroup v1 systemd controller',
           'Cgroup v1 freezer controller'}
LINE_RE = re.compile(r'^(.*): (enabled|missing|required)(, (not )?loaded)?$')


def run(check=False, **args):
    return modrun.run_module('kernel_config_info', args, check=check, diff=False)


def golden(case):
    out = []
    for line in (case / 'lxc-checkconfig.out').read_text().splitlines():
        m = LINE_RE.match(line)
        if m and m.group(1) not in MACHINE:
            out.append((m.group(1), m.group(2)))
    return out


def all_cases(conformance_dir):
    return sorted(p for p in (conformance_dir / 'kconfig' / 'cases').iterdir() if p.is_dir())


def test_golden_cases(conformance_dir):
    for case in all_cases(conformance_dir):
        res = run(path=str(case / 'config'))
        assert not res.get('failed'), res
        assert res['changed'] is False
        assert [(c['label'], c['status']) for c in res['checks']] == golden(case), case.name
        header = (case / 'config').read_text().split('\n')[2]
        assert res['kernel_version'] and res['kernel_version'] in header
        # a use is ready exactly when nothing is missing and nothing conflicts
        for use, ok in res['ready'].items():
            assert ok == (not res['missing'][use] and not res['conflicts'][use])
        # whatever lxc-checkconfig calls required is missing for lxc
        required = [c['symbol'] for c in res['checks'] if c['status'] == 'required']
        assert set(required) <= set(res['missing']['lxc'])


def test_names_the_missing_user_namespaces(conformance_dir):
    base = conformance_dir / 'kconfig' / 'cases'
    res = run(path=str(base / 'debian-6.1-armmp-no-user-ns' / 'config'), board='omnia')
    assert res['ready'] == {'lxc': True, 'lxc_userns': False, 'lxc_debian': True, 'docker': True,
                            'docker_overlay': True, 'docker_iptables': True}
    assert res['missing']['lxc_userns'] == ['USER_NS']
    res = run(path=str(base / 'linux-3.10.49-like' / 'config'), board='turris1x')
    assert res['e500'] is True
    assert res['missing']['lxc_debian'] == ['MATH_EMULATION'] and res['missing']['lxc'] == []
    assert res['conflicts']['lxc_userns'] == ['XFS_FS']
    assert res['ready']['lxc_userns'] is False


def test_gzip_file_and_check_mode(conformance_dir, tmp_path):
    case = conformance_dir / 'kconfig' / 'cases' / 'debian-6.1-arm64-no-veth-bridge'
    gz = tmp_path / 'config.gz'
    with gzip.open(str(gz), 'wb') as fh:
        fh.write((case / 'config').read_bytes())
    res = run(check=True, path=str(gz))
    assert [(c['label'], c['status']) for c in res['checks']] == golden(case)
    assert res['missing']['lxc'] == ['VETH', 'BRIDGE']


def test_bad_paths(tmp_path):
    res = run(path=str(tmp_path / 'missing-config'))
    assert res.get('failed') and 'does not exist' in res['msg'] and 'missing-config' in res['msg']
    bad = tmp_path / 'config.gz'
    bad.write_bytes(b'\x1f\x8b\x08\x00not really gzip')
    res = run(path=str(bad))
    assert res.get('failed') and 'corrupt gzip' in res['msg'] and str(bad) in res['msg']
    res = run(path=str(tmp_path))
    assert res.get('failed') and 'directory' in res['msg']
    res = run(path=str(bad), board='turris2')
    assert res.get('failed') and 'turris2' in res['msg']


def test_running_kernel():
    release = os.uname()[2]
    candidates = ['/proc/config.gz', '/boot/config-%s' % release, '/lib/modules/%s/build/.config' % release]
    if not any(os.path.isfile(c) for c in candidates):
        res = run()
        assert res.get('failed') and 'IKCONFIG_PROC' in res['msg']
        return
    res = run()
    assert not res.get('failed'), res
    assert res['config_path'] == [c for c in candidates if os.path.isfile(c)][0]
    assert res['checks'] and set(res['ready']) == {'lxc', 'lxc_userns', 'lxc_debian', 'docker', 'docker_overlay',
                                                   'docker_iptables'}
    if os.path.exists('/proc/cgroups'):
        plan = res['cgroup_mounts']
        assert plan['root'] == '/sys/fs/cgroup'
        with open('/proc/self/mounts') as fh:
            mounted = set(o for line in fh for o in line.split()[3].split(',') if line.split()[2] == 'cgroup')
        for m in plan['mounts']:
            assert not set(m['controllers'].split(',')) & mounted
    else:
        pytest.fail('/proc/cgroups is missing although a kernel config is there')
