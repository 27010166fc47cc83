# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""_kconfig against the lxc-checkconfig golden corpus, the real lxc-checkconfig, and real files."""

import gzip
import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.turris.containers.plugins.module_utils import _kconfig as kc

# lxc-checkconfig lines that come from the machine it runs on (read in its source: cgroup
# namespace from /proc/self/ns, mount points and controllers from /proc/self/mounts).
MACHINE = {'Cgroup namespace', 'Cgroup v1 clone_children flag', 'Cgroup v1 systemd controller',
           'Cgroup v1 freezer controller'}
LINE_RE = re.compile(r'^(.*): (enabled|missing|required)(, (not )?loaded)?$')
LXC_CHECKCONFIG = shutil.which('lxc-checkconfig')


def golden_checks(output):
    out = []
    for line in output.splitlines():
        m = LINE_RE.match(line)
        if m and m.group(1) not in MACHINE:
            out.append((m.group(1), m.group(2)))
    return out


def cases(conformance):
    return sorted(p for p in (conformance / 'kconfig' / 'cases').iterdir() if p.is_dir())


def mine(text):
    return [(c['label'], c['status']) for c in kc.lxc_checks(text)]


def test_every_golden_case_matches(conformance_dir):
    found = cases(conformance_dir)
    assert len(found) >= 19
    for case in found:
        text = kc.read_config_bytes(str(case / 'config'))
        expected = golden_checks((case / 'lxc-checkconfig.out').read_text())
        assert len(expected) > 30, case.name
        assert mine(text) == expected, case.name


def test_symbols_name_the_config_line(conformance_dir):
    for case in cases(conformance_dir):
        text = (case / 'config').read_text()
        values = kc.kernel_values(text)
        for check in kc.lxc_checks(text):
            if check['symbol'] is None:
                assert check['label'] == 'File capabilities'
                continue
            on = values.get(check['symbol']) in ('y', 'm')
            assert on == (check['status'] == 'enabled'), (case.name, check)


def test_gzip_config_reads_like_plain(conformance_dir, tmp_path):
    case = conformance_dir / 'kconfig' / 'cases' / 'linux-3.10.49-like'
    gz = tmp_path / 'config.gz'
    with gzip.open(str(gz), 'wb') as fh:
        fh.write((case / 'config').read_bytes())
    assert kc.read_config_bytes(str(gz)) == (case / 'config').read_text()
    assert mine(kc.read_config_bytes(str(gz))) == golden_checks((case / 'lxc-checkconfig.out').read_text())


def test_corrupt_gzip_is_an_error(tmp_path):
    bad = tmp_path / 'config.gz'
    bad.write_bytes(b'\x1f\x8b\x08\x00garbage')
    with pytest.raises(kc.KConfigError, match='corrupt gzip'):
        kc.read_config_bytes(str(bad))
    with pytest.raises(kc.KConfigError, match='cannot read'):
        kc.read_config_bytes(str(tmp_path / 'nothing'))


def _variant(base, header=None, drop=(), add=()):
    lines = []
    for line in base.splitlines():
        if header and line.startswith('# Linux/'):
            line = header
        if any(re.match(r'^(# )?CONFIG_%s[= ]' % d, line) for d in drop):
            continue
        lines.append(line)
    return '\n'.join(lines + list(add)) + '\n'


VARIANTS = {
    '2.6.32': dict(header='# Linux/powerpc 2.6.32 Kernel Configuration',
                   add=('CONFIG_CGROUP_MEM_RES_CTLR=y',)),
    '2.6.35-no-filecaps': dict(header='# Linux/powerpc 2.6.35 Kernel Configuration',
                               add=('CONFIG_SECURITY_FILE_CAPABILITIES=y',)),
    '3.2-no-smp': dict(header='# Linux/powerpc 3.2.102 Kernel Configuration', drop=('SMP',)),
    '4.4-devpts': dict(header='# Linux/arm 4.4.302 Kernel Configuration',
                       add=('CONFIG_DEVPTS_MULTIPLE_INSTANCES=y', 'CONFIG_NF_NAT_IPV4=m')),
    '4.9-nat': dict(header='# Linux/arm 4.9.337 Kernel Configuration', add=('CONFIG_NF_NAT_IPV6=y',)),
    'no-header': dict(header='# no version here'),
    'odd-header': dict(header='# Linux/arm 6.1 Kernel Configuration'),
    'substring-traps': dict(drop=('VETH', 'NAMESPACES', 'EPOLL'),
                            add=('# CONFIG_VETH=y is what we want', 'CONFIG_X_CONFIG_NAMESPACES=m',
                                 'CONFIG_EPOLL=|')),
}


@pytest.mark.skipif(LXC_CHECKCONFIG is None,
                    reason='lxc-checkconfig is not installed; install the Debian package lxc to run')
@pytest.mark.parametrize('name', sorted(VARIANTS))
def test_same_verdicts_as_real_lxc_checkconfig(conformance_dir, tmp_path, name):
    base = (conformance_dir / 'kconfig' / 'cases' / 'debian-6.1-armmp' / 'config').read_text()
    text = _variant(base, **VARIANTS[name])
    cfg = tmp_path / 'config'
    cfg.write_text(text)
    env = dict(os.environ, CONFIG=str(cfg), LANG='C')
    out = subprocess.run([LXC_CHECKCONFIG], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, universal_newlines=True, check=False).stdout
    expected = golden_checks(out)
    assert len(expected) > 30
    assert mine(text) == expected


def test_version_quirks_follow_lxc_checkconfig():
    assert kc.checkconfig_version('# Linux/powerpc 3.10.49 Kernel Configuration\n') == ('3', '10')
    assert kc.checkconfig_version('# Linux/x86 2.6.32 Kernel Configuration\n') == ('2', '32')
    assert kc.checkconfig_version('nothing\n') == ('100', '0')
    labels = [c['label'] for c in kc.lxc_checks('# Linux/x86 4.9.1 Kernel Configuration\n')]
    assert 'CONFIG_NF_NAT_IPV4' in labels and 'Multiple /dev/pts instances' not in labels
    labels = [c['label'] for c in kc.lxc_checks('# Linux/x86 3.10.1 Kernel Configuration\n')]
    assert 'Multiple /dev/pts instances' in labels and 'CONFIG_NF_NAT_IPV4' not in labels


# --- readiness --------------------------------------------------------------------------------

def _ready(text, board_e500=False):
    values = kc.kernel_values(text)
    v = kc.header_version(text)
    return kc.readiness(values, kc.parse_version(v) if v else None, board_e500 or kc.is_e500(values))


def test_full_configs_ready_and_dropped_symbols_named(conformance_dir):
    base = (conformance_dir / 'kconfig' / 'cases' / 'debian-6.1-arm64' / 'config').read_text()
    ready, missing, conflicts = _ready(base)
    assert ready == dict((use, True) for use in kc.USES)
    for use, sym in (('lxc', 'CGROUP_FREEZER'), ('lxc_userns', 'USER_NS'), ('docker', 'EXT4_FS_SECURITY'),
                     ('docker_iptables', 'NETFILTER_XT_MATCH_ADDRTYPE'), ('docker_overlay', 'OVERLAY_FS')):
        ready, missing, conflicts = _ready(_variant(base, drop=(sym,)))
        assert ready[use] is False and missing[use] == [sym], (use, sym)
    # user namespaces are not part of plain lxc
    ready, missing, dummy = _ready(_variant(base, drop=('USER_NS',)))
    assert ready['lxc'] and ready['docker'] and missing['lxc_userns'] == ['USER_NS']


def test_userns_with_xfs_on_3_10_is_a_conflict(conformance_dir):
    text = (conformance_dir / 'kconfig' / 'cases' / 'linux-3.10.49-like' / 'config').read_text()
    ready, missing, conflicts = _ready(text)
    assert conflicts['lxc_userns'] == ['XFS_FS'] and not ready['lxc_userns']
    assert conflicts['lxc'] == []
    # Docker runs without a devpts instance per container (the seed's 3.10 kernel), and
    # without the addrtype match it runs with iptables off
    assert 'DEVPTS_MULTIPLE_INSTANCES' not in missing['docker'] and ready['docker']
    # the same config declared as 4.14: no conflict
    ready, missing, conflicts = _ready(_variant(text, header='# Linux/powerpc 4.14.1 Kernel Configuration'))
    assert conflicts['lxc_userns'] == []


def test_e500_needs_math_emulation(conformance_dir):
    base = (conformance_dir / 'kconfig' / 'cases' / 'debian-6.1-armmp' / 'config').read_text()
    assert _ready(base)[0]['lxc_debian']
    ready, missing, dummy = _ready(base + 'CONFIG_PPC_85xx=y\n')
    assert missing['lxc_debian'] == ['MATH_EMULATION'] and ready['lxc'] and ready['docker']
    ready, missing, dummy = _ready(base + 'CONFIG_E500=y\nCONFIG_MATH_EMULATION=y\n')
    assert ready['lxc_debian']
    assert _ready(base, board_e500=True)[1]['lxc_debian'] == ['MATH_EMULATION']


# --- reading and writing build-tree files ---------------------------------------------------------

FRAGMENT = ('# Global options\nCONFIG_LXC_KERNEL_OPTIONS=y\n\n# CGroups\nCONFIG_KERNEL_CGROUP_DEBUG=y\n'
            'CONFIG_KERNEL_SECCOMP=n\n')
DOTCONFIG = ('CONFIG_TARGET_mpc85xx=y\nCONFIG_TARGET_BOARD="mpc85xx"\n# CONFIG_KERNEL_USER_NS is not set\n'
             'CONFIG_PACKAGE_kmod-fs-xfs=y\n# comment kept\nCONFIG_KERNEL_USER_NS=y\n')


def test_detect_kind(conformance_dir, tmp_path):
    full = (conformance_dir / 'kconfig' / 'cases' / 'debian-6.1-arm64' / 'config').read_text()
    assert kc.detect_kind(full, '/x/config') == 'kernel'
    assert kc.detect_kind('CONFIG_MATH_EMULATION=y\n', '/t/target/linux/mpc85xx/p2020/config-default') == 'kernel'
    assert kc.detect_kind(FRAGMENT, '/os-build/configs/common/lxc') == 'fragment'
    assert kc.detect_kind(DOTCONFIG, '/tree/.config') == 'openwrt'
    (tmp_path / 'target' / 'linux').mkdir(parents=True)
    assert kc.detect_kind('', str(tmp_path / '.config')) == 'openwrt'


def test_openwrt_prefix_maps_to_kernel_symbols():
    values = kc.kernel_values(DOTCONFIG, 'openwrt')
    # the first line of a symbol wins, as in kconfig
    assert values['USER_NS'] == 'n'
    assert 'PACKAGE_kmod-fs-xfs' not in values
    assert kc.kernel_values(FRAGMENT, 'fragment') == {'CGROUP_DEBUG': 'y', 'SECCOMP': 'n'}


def test_apply_keeps_comments_order_and_dedups():
    new, changes = kc.apply_changes(DOTCONFIG, {'KERNEL_USER_NS': 'y', 'KERNEL_NET_NS': 'y'}, 'not_set')
    lines = new.splitlines()
    assert lines[:2] == DOTCONFIG.splitlines()[:2]
    assert lines[2] == 'CONFIG_KERNEL_USER_NS=y'
    assert lines.count('CONFIG_KERNEL_USER_NS=y') == 1
    assert '# comment kept' in lines and lines[-1] == 'CONFIG_KERNEL_NET_NS=y'
    assert changes == [('KERNEL_USER_NS', 'n', 'y'), ('KERNEL_NET_NS', None, 'y')]
    again, changes = kc.apply_changes(new, {'KERNEL_USER_NS': 'y', 'KERNEL_NET_NS': 'y'}, 'not_set')
    assert again == new and changes == []


def test_apply_off_styles_and_absent():
    new, dummy = kc.apply_changes(FRAGMENT, {'KERNEL_CGROUP_DEBUG': 'n', 'KERNEL_USER_NS': 'n'}, 'n')
    assert 'CONFIG_KERNEL_CGROUP_DEBUG=n' in new.splitlines()
    assert new.splitlines()[-1] == 'CONFIG_KERNEL_USER_NS=n'
    new, dummy = kc.apply_changes(DOTCONFIG, {'KERNEL_NET_NS': 'n', 'PACKAGE_kmod-fs-xfs': 'absent'}, 'not_set')
    assert '# CONFIG_KERNEL_NET_NS is not set' in new.splitlines()
    assert 'kmod-fs-xfs' not in new
    # an "off" written the other way is already off: no rewrite
    same, changes = kc.apply_changes(FRAGMENT, {'KERNEL_SECCOMP': 'n'}, 'not_set')
    assert same == FRAGMENT and changes == []


def test_values_are_normalized():
    assert kc.normalize_value('A', True) == 'y' and kc.normalize_value('A', False) == 'n'
    assert kc.normalize_value('A', 32) == '32' and kc.normalize_value('A', '0x1F') == '0x1F'
    assert kc.normalize_value('A', 'hello "x"') == '"hello \\"x\\""'
    assert kc.normalize_value('A', '"verbatim"') == '"verbatim"'
    for bad in (None, 1.5, ['y'], 'two\nlines'):
        with pytest.raises(kc.KConfigError, match='A'):
            kc.normalize_value('A', bad)


def test_presets_follow_kind_and_version():
    openwrt = dict(kc.preset_symbols('containers', 'openwrt', (3, 10)))
    assert set(openwrt) == set(kc.PRESET_CONTAINERS)
    kernel = dict(kc.preset_symbols('containers', 'kernel', (4, 14)))
    assert 'LXC_MISC' not in kernel and 'RESOURCE_COUNTERS' not in kernel and 'USER_NS' in kernel
    assert 'OVERLAYFS_FS' in dict(kc.preset_symbols('docker', 'kernel', (3, 10)))
    assert 'OVERLAY_FS' in dict(kc.preset_symbols('docker', 'kernel', None))
    assert kc.preset_symbols('ppc_debian', 'kernel') == [('MATH_EMULATION', 'y')]
    with pytest.raises(kc.KConfigError, match='unknown preset'):
        kc.preset_symbols('podman', 'kernel')


def test_kernel_version_from_tree(tmp_path):
    tl = tmp_path / 'target' / 'linux' / 'mvebu'
    (tl / 'cortexa9').mkdir(parents=True)
    (tl / 'Makefile').write_text('BOARD:=mvebu\nKERNEL_PATCHVER:=5.15\n')
    (tl / 'cortexa9' / 'config-default').write_text('CONFIG_X=y\n')
    assert kc.file_kernel_version('CONFIG_X=y\n', str(tl / 'cortexa9' / 'config-default'))[0] == '5.15'
    dot = 'CONFIG_TARGET_BOARD="mvebu"\n'
    (tmp_path / '.config').write_text(dot)
    assert kc.file_kernel_version(dot, str(tmp_path / '.config')) == ('5.15', str(tl / 'Makefile'))
    assert kc.file_kernel_version('CONFIG_LINUX_4_19=y\n', '/x/kernel')[0] == '4.19'
    assert kc.file_kernel_version('', str(tmp_path / 'target' / 'linux' / 'mvebu' / 'config-5.10'))[0] == '5.10'
    assert kc.file_kernel_version('CONFIG_X=y\n', str(tmp_path / 'lonely')) == (None, None)
    assert kc.userns_xfs_conflict((3, 10)) and not kc.userns_xfs_conflict((3, 12))


# --- cgroup mounts --------------------------------------------------------------------------------

CGROUPS_FRESH = ('#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t1\t1\ncpu\t0\t1\t1\n'
                 'memory\t0\t1\t0\nfreezer\t0\t1\t1\n')


def test_fresh_router_mounts_tmpfs_and_each_enabled_controller():
    cgroups = kc.parse_proc_cgroups(CGROUPS_FRESH)
    mounts = kc.parse_mounts('/dev/root / squashfs ro 0 0\nsysfs /sys sysfs rw 0 0\n')
    plan = kc.cgroup_mount_plan(cgroups, mounts)
    enabled = [c['name'] for c in cgroups if c['enabled']]
    assert plan['tmpfs'] is True
    assert [m['controllers'] for m in plan['mounts']] == enabled
    assert [m['path'] for m in plan['mounts']] == ['/sys/fs/cgroup/' + n for n in enabled]


def test_cgroup2_root_or_mounted_controllers_need_nothing():
    cgroups = kc.parse_proc_cgroups(CGROUPS_FRESH)
    v2 = kc.parse_mounts('cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n')
    assert kc.cgroup_mount_plan(cgroups, v2)['mounts'] == []
    # this machine, as it is: what it shows mounted is not planned again
    with open('/proc/self/mounts') as fh:
        here = kc.parse_mounts(fh.read())
    with open('/proc/cgroups') as fh:
        here_cg = kc.parse_proc_cgroups(fh.read())
    plan = kc.cgroup_mount_plan(here_cg, here)
    mounted = set(o for m in here if m['fstype'] == 'cgroup' for o in m['options'])
    for m in plan['mounts']:
        assert not set(m['controllers'].split(',')) & mounted


def test_controllers_sharing_a_hierarchy_are_mounted_together():
    cgroups = kc.parse_proc_cgroups('cpu\t3\t1\t1\ncpuacct\t3\t1\t1\npids\t5\t1\t1\n')
    mounts = kc.parse_mounts('tmpfs /sys/fs/cgroup tmpfs rw 0 0\n'
                             'cgroup /sys/fs/cgroup/pids cgroup rw,pids 0 0\n')
    plan = kc.cgroup_mount_plan(cgroups, mounts)
    assert plan['tmpfs'] is False
    assert plan['mounts'] == [{'controllers': 'cpu,cpuacct', 'path': '/sys/fs/cgroup/cpu,cpuacct'}]
    assert kc.parse_mounts('a /mnt/with\\040space ext4 rw 0 0\n')[0]['path'] == '/mnt/with space'


def test_board_kernel_config_subtarget_first_then_patchver(tmp_path):
    tl = tmp_path / 'target' / 'linux' / 'mpc85xx'
    (tl / 'p2020-nand').mkdir(parents=True)
    (tl / 'Makefile').write_text('BOARD:=mpc85xx\nKERNEL_PATCHVER:=4.14\n')
    (tl / 'config-4.14').write_text('CONFIG_X=y\n')
    assert kc.board_kernel_config(str(tmp_path), 'turris1x') == str(tl / 'config-4.14')
    (tl / 'p2020-nand' / 'config-default').write_text('CONFIG_X=y\n')
    assert kc.board_kernel_config(str(tmp_path), 'turris1x') == str(tl / 'p2020-nand' / 'config-default')
    (tl / 'p2020').mkdir()
    (tl / 'p2020' / 'config-default').write_text('CONFIG_X=y\n')
    assert kc.board_kernel_config(str(tmp_path), 'turris1x') == str(tl / 'p2020' / 'config-default')
    with pytest.raises(kc.KConfigError) as err:
        kc.board_kernel_config(str(tmp_path), 'mox')
    assert 'mvebu/cortexa53/config-default' in str(err.value) and 'KERNEL_PATCHVER in' in str(err.value)
    with pytest.raises(kc.KConfigError, match="'turris2' is not a Turris board: use one of turris1x, omnia, mox"):
        kc.board_kernel_config(str(tmp_path), 'turris2')


def test_every_board_has_a_target():
    assert sorted(kc.BOARD_TARGETS) == sorted(kc.BOARDS)
