# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""uci_kernel_config run as Ansible runs it (a real process), on build-tree files in temp dirs."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from ansible_collections.turris.containers.plugins.module_utils import _kconfig as kc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit/plugins: tinyfs
from tinyfs import tiny_fs  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
import modrun  # noqa: E402  pylint: disable=wrong-import-position


def run(tmp_path, check=False, diff=False, user=None, **args):
    prefix = ['setpriv', '--reuid', user, '--regid', 'nogroup', '--clear-groups'] if user else ()
    return modrun.run_module('uci_kernel_config', args, check=check, diff=diff, prefix=prefix, tmpdir=tmp_path)


@pytest.fixture
def tree(tmp_path):
    """An OpenWrt-layout tree for the Turris 1.x on Linux 3.10."""
    root = tmp_path / 'tree'
    tl = root / 'target' / 'linux' / 'mpc85xx'
    (tl / 'p2020').mkdir(parents=True)
    (tl / 'Makefile').write_text('BOARD:=mpc85xx\nKERNEL_PATCHVER:=3.10\n')
    (tl / 'p2020' / 'config-default').write_text('# Turris 1.x\nCONFIG_FSL_ULI1575=y\n# CONFIG_MATH_EMULATION is not set\n')
    (root / '.config').write_text('CONFIG_TARGET_mpc85xx=y\nCONFIG_TARGET_BOARD="mpc85xx"\n'
                                  '# CONFIG_KERNEL_USER_NS is not set\nCONFIG_KERNEL_CGROUPS=y\n'
                                  'CONFIG_PACKAGE_kmod-fs-xfs=y\n')
    os.chmod(str(root / '.config'), 0o640)
    return root


def test_check_apply_idempotent(tree, tmp_path):
    dot = tree / '.config'
    before = dot.read_text()
    args = dict(path=str(dot), presets=['containers'], packages={'kmod-fs-xfs': 'n'})
    res = run(tmp_path, check=True, diff=True, **args)
    assert res['changed'] is True and res['kind'] == 'openwrt' and res['kernel_version'] == '3.10'
    assert dot.read_text() == before
    assert res['diff']['before'] == before and 'CONFIG_KERNEL_USER_NS=y' in res['diff']['after']
    res2 = run(tmp_path, diff=True, **args)
    assert res2['changed'] is True and res2['diff'] == res['diff']
    after = dot.read_text()
    assert after == res['diff']['after']
    assert oct(dot.stat().st_mode & 0o777) == oct(0o640)
    values = kc.kernel_values(after, 'openwrt')
    for sym in kc.PRESET_CONTAINERS:
        assert values[sym] == 'y', sym
    assert '# CONFIG_PACKAGE_kmod-fs-xfs is not set' in after.splitlines()
    assert run(tmp_path, check=True, **args)['changed'] is False
    assert run(tmp_path, **args)['changed'] is False
    assert dot.read_text() == after


def test_target_config_gets_docker_and_ppc_debian(tree, tmp_path):
    cfg = tree / 'target' / 'linux' / 'mpc85xx' / 'p2020' / 'config-default'
    res = run(tmp_path, path=str(cfg), presets=['docker', 'ppc_debian'], backup=True)
    assert res['changed'] and res['kind'] == 'kernel' and res['kernel_version'] == '3.10'
    text = cfg.read_text()
    assert text.splitlines()[:3] == ['# Turris 1.x', 'CONFIG_FSL_ULI1575=y', 'CONFIG_MATH_EMULATION=y']
    values = kc.kernel_values(text)
    assert values['OVERLAYFS_FS'] == 'y' and values['EXT4_FS_SECURITY'] == 'y'
    assert Path(res['backup_file']).read_text().endswith('# CONFIG_MATH_EMULATION is not set\n')
    assert {c['symbol'] for c in res['changes']} >= {'MATH_EMULATION', 'VETH'}


def test_symbols_values_and_fragment(tmp_path):
    frag = tmp_path / 'lxc'
    frag.write_text('# CGroups\nCONFIG_KERNEL_CGROUP_DEBUG=y\nCONFIG_KERNEL_SECCOMP=n\n')
    res = run(tmp_path, path=str(frag), symbols={'CGROUP_DEBUG': 'absent', 'USER_NS': False,
                                                 'NR_CPUS': 4, 'DEFAULT_HOSTNAME': 'turris'})
    assert res['kind'] == 'fragment'
    assert frag.read_text() == ('# CGroups\nCONFIG_KERNEL_SECCOMP=n\nCONFIG_KERNEL_USER_NS=n\n'
                                'CONFIG_KERNEL_NR_CPUS=4\nCONFIG_KERNEL_DEFAULT_HOSTNAME="turris"\n')


def test_userns_with_xfs_refused_on_3_10(tree, tmp_path):
    dot = tree / '.config'
    before = dot.read_text()
    res = run(tmp_path, path=str(dot), presets=['containers'])
    assert res.get('failed') and 'kmod-fs-xfs' in res['msg'] and '3.10' in res['msg']
    assert dot.read_text() == before
    # the same on a 3.12 tree is fine
    res = run(tmp_path, path=str(dot), presets=['containers'], kernel_version='3.12', _ansible_check_mode=True)
    assert not res.get('failed') and res['changed']
    cfg = tmp_path / 'config-3.10'
    cfg.write_text('CONFIG_XFS_FS=m\n')
    res = run(tmp_path, path=str(cfg), symbols={'USER_NS': 'y'})
    assert res.get('failed') and 'XFS_FS' in res['msg']
    assert cfg.read_text() == 'CONFIG_XFS_FS=m\n'


@pytest.mark.parametrize('args, words', [
    (dict(symbols={'user_ns': 'y'}), ['user_ns', '[A-Z0-9_]+']),
    (dict(symbols={'CONFIG-X': 'y'}), ['CONFIG-X']),
    (dict(symbols={'USER_NS': ['y']}), ['USER_NS']),
    (dict(presets=['podman']), ['podman', 'containers']),
    (dict(packages={'Kmod_XFS': 'y'}), ['Kmod_XFS']),
    (dict(packages={'kmod-veth': 'yes please'}), ['kmod-veth']),
    (dict(kernel_version='three'), ['three']),
])
def test_bad_input_fails_and_writes_nothing(tree, tmp_path, args, words):
    dot = tree / '.config'
    before = dot.read_text()
    res = run(tmp_path, path=str(dot), **args)
    assert res.get('failed'), res
    for word in words:
        assert word in res['msg']
    assert dot.read_text() == before


def test_packages_refused_in_kernel_config(tree, tmp_path):
    cfg = tree / 'target' / 'linux' / 'mpc85xx' / 'p2020' / 'config-default'
    before = cfg.read_text()
    res = run(tmp_path, path=str(cfg), packages={'kmod-veth': 'y'})
    assert res.get('failed') and 'kmod-veth' in res['msg']
    assert cfg.read_text() == before


def test_missing_path_and_directory(tree, tmp_path):
    res = run(tmp_path, path=str(tree / 'nope' / '.config'), presets=['containers'])
    assert res.get('failed') and 'does not exist' in res['msg']
    res = run(tmp_path, path=str(tree), presets=['containers'])
    assert res.get('failed') and 'directory' in res['msg']


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which('setpriv') is None,
                    reason='needs root and setpriv (util-linux) to run the module as nobody')
def test_unreadable_config_fails(tmp_path):
    shared = Path(tempfile.mkdtemp(prefix='kconfig-'))  # a directory nobody may enter
    os.chmod(str(shared), 0o755)
    cfg = shared / 'config-4.14'
    cfg.write_text('CONFIG_X=y\n')
    cfg.chmod(0o000)
    res = run(tmp_path, user='nobody', path=str(cfg), symbols={'Y': 'y'})
    assert res.get('failed') and 'cannot read' in res['msg'] and str(cfg) in res['msg']
    cfg.chmod(0o644)
    assert cfg.read_text() == 'CONFIG_X=y\n'
    shutil.rmtree(str(shared))


@pytest.mark.parametrize('backup', [False, True])
def test_full_disk_fails_with_changed_false_and_keeps_the_file(tiny_fs, tmp_path, backup):
    cfg = tiny_fs.path / '.config'
    text = 'CONFIG_TARGET_mpc85xx=y\n# CONFIG_KERNEL_USER_NS is not set\n'
    cfg.write_text(text)
    # with backup: room for the backup copy (one page), none for the new file
    tiny_fs.fill(leave_pages=1 if backup else 0)
    res = run(tmp_path, path=str(cfg), symbols={'USER_NS': 'y'}, kernel_version='5.15', backup=backup)
    assert res.get('failed') and res['changed'] is False, res
    assert res['msg'] == 'cannot write %s: No space left on device; the file is unchanged.' % cfg
    assert 'backup_file' not in res
    assert cfg.read_text() == text
    assert tiny_fs.files() == ['.config']


def test_board_finds_the_kernel_config_in_the_tree(tree, tmp_path):
    kconf = tree / 'target' / 'linux' / 'mpc85xx' / 'p2020' / 'config-default'
    before = kconf.read_text()
    res = run(tmp_path, check=True, path=str(tree), board='turris1x', kind='kernel', presets=['ppc_debian'])
    assert not res.get('failed'), res
    assert res['path'] == str(kconf) and res['changed'] is True and res['kernel_version'] == '3.10'
    assert kconf.read_text() == before
    res = run(tmp_path, path=str(tree), board='turris1x', kind='kernel', presets=['ppc_debian'])
    assert res['changed'] is True and 'CONFIG_MATH_EMULATION=y' in kconf.read_text().splitlines()
    assert run(tmp_path, path=str(tree), board='turris1x', kind='kernel', presets=['ppc_debian'])['changed'] is False


@pytest.mark.parametrize('args,words', [
    ({'board': 'turris2'}, ['board', 'turris2', 'turris1x']),
    ({'board': 'omnia'}, ['no kernel config of board omnia', 'mvebu/cortexa9/config-default',
                          'KERNEL_PATCHVER in']),
    ({}, ['is a directory', 'board']),
])
def test_board_errors_name_what_was_wrong(tree, tmp_path, args, words):
    before = dict((str(p), p.read_bytes()) for p in tree.rglob('*') if p.is_file())
    res = run(tmp_path, path=str(tree), presets=['docker'], **args)
    assert res.get('failed'), res
    for word in words:
        assert word in res['msg'], (word, res['msg'])
    assert dict((str(p), p.read_bytes()) for p in tree.rglob('*') if p.is_file()) == before
