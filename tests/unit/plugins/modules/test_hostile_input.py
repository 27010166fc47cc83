# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile values against uci, uci_info, uci_kernel_config, kernel_config_info and opkg_feed,
each run as Ansible runs it (a subprocess with JSON arguments) on real files.

Every refusal must name the field and the bad value (never a key file's content), and leave
every file byte-identical. The values are enumerated per field; the count per module is in
the changelog fragment hostile-input.yml."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit/plugins: tinyfs
from tinyfs import tiny_fs  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
from modrun import run_module  # noqa: E402  pylint: disable=wrong-import-position

ROOT = Path(__file__).resolve().parents[4]
PKG = 'ansible_collections.turris.containers.plugins.modules.'

CONTROL = ['a\nb', 'a\rb', 'a\x00b', 'a\tb', 'a\x1bb', 'a\x7fb']
QUOTING = ["a'b", 'a"b', 'a;b', 'a#b', 'a\\b', 'a b']


def run(name, args, check=False, diff=True):
    return run_module(PKG + name, args, check=check, diff=diff)


def snapshot(root):
    """Every file under root, byte for byte, and every symbolic link's target."""
    out = {}
    for p in sorted(Path(root).rglob('*')):
        if p.is_symlink():
            out[str(p)] = ('link', os.readlink(str(p)))
        elif p.is_file():
            out[str(p)] = p.read_bytes()
    return out


def refused(res, *words):
    assert res.get('failed') is True, res
    assert not res.get('changed'), res
    for word in words:
        assert word in res['msg'], (word, res['msg'])


# ------------------------------------------------------------------------------------------- uci

LXC_AUTO = b"config global 'global'\n\toption wait_dnsmasq '1'\n\nconfig container\n\toption name 'c1'\n"


@pytest.fixture
def ucidir(tmp_path):
    conf = tmp_path / 'config'
    conf.mkdir()
    (conf / 'lxc-auto').write_bytes(LXC_AUTO)
    return tmp_path


def uci_args(base, **kw):
    return dict(kw, config_dir=str(base / 'config'), delta_dir=str(base / 'delta'))


UCI_BAD_TYPES = CONTROL + QUOTING + ['', 'typ\u00e9', 'a\x85b']


@pytest.mark.parametrize('value', UCI_BAD_TYPES)
def test_uci_type_libuci_could_not_read_back_is_refused(ucidir, value):
    before = snapshot(ucidir)
    res = run('uci', uci_args(ucidir, config='lxc-auto', section='s1', type=value, options={'a': 1}))
    refused(res, 'Invalid section type %r' % value, 'bytes 33-126')
    assert snapshot(ucidir) == before


UCI_BAD_NAMES = CONTROL + QUOTING + ['', 'a-b', 'a.b', '../x', 'n\u00e4me', 'a/b']


@pytest.mark.parametrize('value', UCI_BAD_NAMES)
def test_uci_section_and_option_names(ucidir, value):
    before = snapshot(ucidir)
    res = run('uci', uci_args(ucidir, config='lxc-auto', section=value, type='t'))
    if value == '':  # an empty section means "none given"
        refused(res)
    else:
        refused(res, 'Invalid section name %r' % value, '[A-Za-z0-9_]+')
    res = run('uci', uci_args(ucidir, config='lxc-auto', section='global', options={value: '1'}))
    refused(res, 'Invalid option name %r' % value)
    assert snapshot(ucidir) == before


@pytest.mark.parametrize('value', ['../lxc-auto', '../../etc/passwd', 'a/b', '.hidden', 'lxc\nauto', 'lxc\x00auto', ''])
def test_uci_package_names(ucidir, value):
    before = snapshot(ucidir)
    res = run('uci', uci_args(ucidir, config=value, section='s', type='t'))
    refused(res, 'Invalid config (package) name %r' % value)
    res = run('uci_info', uci_args(ucidir, config=value))
    refused(res, 'Invalid config (package) name %r' % value)
    assert snapshot(ucidir) == before


@pytest.mark.parametrize('value', ['a\x00b', 'a\x01b', 'a\x1bb', 'a\x08b', 'a\x0bb', 'a\x0cb', 'a\x1fb'])
def test_uci_values_with_control_characters_are_refused(ucidir, value):
    before = snapshot(ucidir)
    res = run('uci', uci_args(ucidir, config='lxc-auto', section='global', options={'x': value}))
    refused(res, repr(value), 'control characters')
    res = run('uci', uci_args(ucidir, config='lxc-auto', section='global', options={'x': ['ok', value]}))
    refused(res, repr(value))
    res = run('uci', uci_args(ucidir, config='lxc-auto', type='container', match={'name': value}))
    refused(res, repr(value))
    assert snapshot(ucidir) == before


@pytest.mark.parametrize('value', ['two\nlines', 'cr\rhere', 'tab\there', "quote ' and \" and \\", '#;not a comment',
                                   '\n', 'trailing\r\n'])
def test_uci_values_libuci_stores_are_kept_exactly(ucidir, value):
    """libuci keeps newlines, CR and tabs inside a quoted value (file.c parse_single_quote reads
    across lines): they are accepted, written once, read back equal and are no change the
    second time."""
    args = uci_args(ucidir, config='lxc-auto', section='global', options={'x': value})
    out = [run('uci', args, check=True), run('uci', args), run('uci', args, check=True), run('uci', args)]
    assert [r.get('changed') for r in out] == [True, True, False, False], out
    info = run('uci_info', uci_args(ucidir, config='lxc-auto', section='global'))
    assert not info.get('failed'), info
    assert info['sections'][0]['options']['x'] == value


@pytest.mark.parametrize('value', ["a'b", 'a#b', 'a;b', 'a"b', 'a\\b'])
def test_uci_type_read_from_quoted_file_is_written_back_readable(ucidir, value):
    """A type libuci reads from ``config 'a#b'`` is written quoted (libuci would write it bare)."""
    conf = ucidir / 'config' / 'odd'
    quoted = "'%s'" % value.replace("'", "'\\''")
    conf.write_bytes(("config %s 'one'\n\toption x '1'\n" % quoted).encode())
    res = run('uci', uci_args(ucidir, config='odd', section='one', options={'x': '2'}))
    assert res.get('changed') is True, res
    info = run('uci_info', uci_args(ucidir, config='odd'))
    assert not info.get('failed'), info
    res = run('uci', uci_args(ucidir, config='odd', section='one', options={'x': '2'}))
    assert res.get('changed') is False, res
    assert ("config %s 'one'" % quoted).encode() in conf.read_bytes()


@pytest.mark.parametrize('module', ['uci', 'uci_info'])
def test_uci_package_that_is_a_fifo_or_device_is_refused(ucidir, module):
    os.mkfifo(str(ucidir / 'config' / 'fifo'))
    os.symlink('/dev/zero', str(ucidir / 'config' / 'zero'))
    before = snapshot(ucidir)
    for name, kind in (('fifo', 'FIFO'), ('zero', 'character device')):
        args = uci_args(ucidir, config=name)
        if module == 'uci':
            args.update(section='s', type='t')
        res = run(module, args)  # a FIFO that blocked would time out here
        refused(res, 'Cannot read the UCI package', kind)
    assert snapshot(ucidir) == before


def test_uci_read_only_filesystem_fails_unchanged(tiny_fs):
    conf = tiny_fs.path / 'config'
    conf.mkdir()
    (conf / 'lxc-auto').write_bytes(LXC_AUTO)
    before = snapshot(tiny_fs.path)
    subprocess.run(['mount', '-o', 'remount,ro', str(tiny_fs.path)], check=True)
    try:
        res = run('uci', dict(config_dir=str(conf), delta_dir=str(tiny_fs.path / 'delta'), config='lxc-auto',
                              section='global', options={'x': '1'}))
    finally:
        subprocess.run(['mount', '-o', 'remount,rw', str(tiny_fs.path)], check=True)
    refused(res, 'Read-only file system')
    assert res['changed'] is False
    assert snapshot(tiny_fs.path) == before


# ------------------------------------------------------------------------- kernel config modules

CONFIG = b'# Linux/powerpc 3.10.49 Kernel Configuration\nCONFIG_CGROUPS=y\n# CONFIG_USER_NS is not set\n'


@pytest.fixture
def kdir(tmp_path):
    (tmp_path / 'config').write_bytes(CONFIG)
    return tmp_path


KCONFIG_BAD_VALUES = CONTROL + ['"a\nb"', '"a\rb"', '"a\x00"', 'x\x85y', '"a"b"', '"a\\"', '"x" "y"', '"\\"']


@pytest.mark.parametrize('value', KCONFIG_BAD_VALUES)
def test_kconfig_values_are_one_clean_line(kdir, value):
    before = snapshot(kdir)
    res = run('uci_kernel_config', dict(path=str(kdir / 'config'), symbols={'INITRAMFS_SOURCE': value}))
    refused(res, 'value of INITRAMFS_SOURCE %r' % value)
    assert snapshot(kdir) == before


@pytest.mark.parametrize('value', ['a b', "it's", 'a"b', 'back\\slash', '#not a comment', '"already \\"quoted\\""'])
def test_kconfig_printable_strings_are_quoted_and_idempotent(kdir, value):
    args = dict(path=str(kdir / 'config'), symbols={'INITRAMFS_SOURCE': value})
    out = [run('uci_kernel_config', args, check=True), run('uci_kernel_config', args),
           run('uci_kernel_config', args, check=True), run('uci_kernel_config', args)]
    assert [r.get('changed') for r in out] == [True, True, False, False], out
    lines = (kdir / 'config').read_text().splitlines()
    assert len(lines) == 4 and lines[-1].startswith('CONFIG_INITRAMFS_SOURCE="')


@pytest.mark.parametrize('name', CONTROL + QUOTING + ['', 'A=B', 'CONFIG-X', '../X', 'user_ns', 'USER_NS\n'])
def test_kconfig_symbol_names(kdir, name):
    before = snapshot(kdir)
    res = run('uci_kernel_config', dict(path=str(kdir / 'config'), symbols={name: 'y'}))
    refused(res, 'symbol name %r' % name, '[A-Z0-9_]+')
    assert snapshot(kdir) == before


@pytest.mark.parametrize('args, words', [
    (dict(packages={'kmod-veth\n': 'y'}), ["package name 'kmod-veth\\n'"]),
    (dict(packages={'kmod veth': 'y'}), ["package name 'kmod veth'"]),
    (dict(packages={'../kmod': 'y'}), ["package name '../kmod'"]),
    (dict(packages={'kmod-veth': 'y\n'}), ["value of kmod-veth 'y\\n'"]),
    (dict(kernel_version='3.10\nCONFIG_X=y'), ["kernel_version '3.10\\nCONFIG_X=y'"]),
])
def test_kconfig_packages_and_version(kdir, args, words):
    frag = kdir / 'frag'
    frag.write_bytes(b'CONFIG_KERNEL_CGROUPS=y\n')
    before = snapshot(kdir)
    res = run('uci_kernel_config', dict(args, path=str(frag), kind='fragment'))
    refused(res, *words)
    assert snapshot(kdir) == before


def _hostile_files(tmp_path):
    """(path, words) of files no kernel config module may read."""
    fifo = tmp_path / 'fifo'
    os.mkfifo(str(fifo))
    os.symlink(str(fifo), str(tmp_path / 'fifo-link'))
    os.symlink('/dev/zero', str(tmp_path / 'zero-link'))
    sparse = tmp_path / 'sparse'
    with open(str(sparse), 'wb') as fh:
        fh.truncate(100 * 1024 * 1024)
    (tmp_path / 'binary').write_bytes(b'CONFIG_A=y\n\x7fELF\x00\x00\x01')
    (tmp_path / 'latin1').write_bytes(b'CONFIG_A="caf\xe9"\n')
    with gzip.open(str(tmp_path / 'bomb.gz'), 'wb') as fh:
        fh.write(b'#' * (17 * 1024 * 1024))
    (tmp_path / 'corrupt.gz').write_bytes(b'\x1f\x8b\x08\x00garbage')
    return [
        (fifo, ['FIFO']), (tmp_path / 'fifo-link', ['FIFO']), (Path('/dev/zero'), ['character device']),
        (tmp_path / 'zero-link', ['character device']), (Path('/dev/null'), ['character device']),
        (sparse, ['at most 16777216 bytes', '104857600']), (tmp_path / 'binary', ['NUL']),
        (tmp_path / 'latin1', ['UTF-8']), (tmp_path / 'bomb.gz', ['once decompressed']),
        (tmp_path / 'corrupt.gz', ['corrupt gzip']),
    ]


@pytest.mark.parametrize('module', ['kernel_config_info', 'uci_kernel_config'])
def test_kconfig_modules_read_only_regular_small_text_files(tmp_path, module):
    files = _hostile_files(tmp_path)
    before = snapshot(tmp_path)
    for path, words in files:
        args = dict(path=str(path))
        if module == 'uci_kernel_config':
            args['symbols'] = {'USER_NS': 'y'}
        res = run(module, args)  # a FIFO that blocked would time out here
        refused(res, str(path), *words)
    assert snapshot(tmp_path) == before
    assert len(files) == 10


def test_kconfig_unwritable_tree_fails_unchanged(tiny_fs):
    cfg = tiny_fs.path / 'config'
    cfg.write_bytes(CONFIG)
    subprocess.run(['mount', '-o', 'remount,ro', str(tiny_fs.path)], check=True)
    try:
        res = run('uci_kernel_config', dict(path=str(cfg), symbols={'USER_NS': 'y'}))
    finally:
        subprocess.run(['mount', '-o', 'remount,rw', str(tiny_fs.path)], check=True)
    refused(res, 'Read-only file system', 'the file is unchanged')
    assert cfg.read_bytes() == CONFIG


# ------------------------------------------------------------------------------------- opkg_feed

FEEDS = '# add your custom package feeds here\n'


@pytest.fixture
def router(tmp_path):
    root = tmp_path / 'router'
    (root / 'etc' / 'opkg' / 'keys').mkdir(parents=True)
    (root / 'etc' / 'updater' / 'conf.d').mkdir(parents=True)
    (root / 'etc' / 'opkg.conf').write_text('dest root /\nlists_dir ext /var/opkg-lists\noption check_signature\n')
    (root / 'etc' / 'opkg' / 'customfeeds.conf').write_text(FEEDS)
    (root / 'etc' / 'turris-version').write_text('7.0.0\n')
    (tmp_path / 'outside').mkdir()
    return root


@pytest.fixture
def feedkey(conformance_dir):
    return (conformance_dir / 'usign' / 'feedkey.pub').read_text()


def feed(router, key, **kw):
    return dict(dict(name='docker', url='https://feeds.example.org/docker', key=key, root=str(router)), **kw)


@pytest.mark.parametrize('field, value', (
    [('name', v) for v in CONTROL + QUOTING + ['', '../x', '-x', 'x' * 65, 'a/b']]
    + [('url', 'https://feeds.example.org/d' + c + 'Repository("evil")') for c in CONTROL + QUOTING]
    + [('url', v) for v in ['feeds.example.org', 'gopher://x/y', 'file://relative', 'https://x/\x85y', 'x' * 5000]]
    + [('file', '/etc/opkg/x' + c + 'os.execute("id").conf') for c in CONTROL]
    + [('root', '/tmp/x\nos.execute("id")')]
))
def test_opkg_feed_values_reaching_files_and_lua(router, feedkey, field, value):
    before = snapshot(router.parent)
    res = run('opkg_feed', feed(router, feedkey, **{field: value}))
    assert res.get('failed') is True and not res.get('changed'), res
    assert repr(value)[:40] in res['msg'] or repr(value[:20])[:-1] in res['msg'], res['msg']
    assert field in res['msg']
    assert snapshot(router.parent) == before


@pytest.mark.parametrize('value, words', [
    ('/etc/opkg/../../../outside/x.conf', ['..']),
    ('/etc/opkg/../opkg/x.conf', ['..']),
    ('etc/opkg/x.conf', ['absolute']),
    ('/etc/opkg/evil.conf', ['resolves', 'outside']),
    ('/etc/opkg/out/x.conf', ['resolves', 'outside']),
])
def test_opkg_feed_file_never_leaves_root(router, feedkey, value, words):
    os.symlink(str(router.parent / 'outside' / 'x.conf'), str(router / 'etc' / 'opkg' / 'evil.conf'))
    os.symlink(str(router.parent / 'outside'), str(router / 'etc' / 'opkg' / 'out'))
    before = snapshot(router.parent)
    res = run('opkg_feed', feed(router, feedkey, file=value))
    refused(res, 'file %r' % value, *words)
    assert snapshot(router.parent) == before
    assert not list((router.parent / 'outside').iterdir())


def test_opkg_feed_written_paths_never_leave_root(router, feedkey):
    """The updater directory as a symbolic link out of root: refused before anything is written."""
    conf_d = router / 'etc' / 'updater' / 'conf.d'
    conf_d.rmdir()
    os.symlink(str(router.parent / 'outside'), str(conf_d))
    before = snapshot(router.parent)
    res = run('opkg_feed', feed(router, feedkey))
    refused(res, 'resolves', 'nothing was changed')
    assert snapshot(router.parent) == before and not list((router.parent / 'outside').iterdir())


SECRET = 'RWRCSwAAAABvR0VTRUNSRVQtRE8tTk9ULVBSSU5UX3NlY3JldA=='


@pytest.mark.parametrize('content', [
    'untrusted comment: private\n' + SECRET + '\n' + SECRET + '\n',       # three lines
    'root:x:0:0:' + SECRET + ':/root:/bin/sh\n',                          # not base64
    'untrusted comment: x\n' + SECRET + '!\n',                            # not base64
    'untrusted comment: x\x1b[2J' + SECRET + '\nRWQAAAAA\n',              # control character
    '\x00' + SECRET,                                                      # binary
    SECRET * 200,                                                         # too big for a key
])
def test_opkg_feed_key_file_content_is_never_printed(router, tmp_path, content):
    keyfile = tmp_path / 'feed.pub'
    keyfile.write_text(content)
    before = snapshot(router.parent)
    res = run('opkg_feed', feed(router, str(keyfile)))
    assert res.get('failed') is True and not res.get('changed'), res
    assert str(keyfile) in res['msg']
    out = json.dumps(res)
    assert SECRET[:12] not in out and 'private' not in out and 'root:x' not in out
    assert snapshot(router.parent) == before


@pytest.mark.parametrize('kind', ['fifo', 'fifo-link', 'dev-zero', 'sparse', 'directory'])
def test_opkg_feed_key_path_must_be_a_small_regular_file(router, tmp_path, kind):
    path = tmp_path / kind
    if kind == 'fifo':
        os.mkfifo(str(path))
    elif kind == 'fifo-link':
        os.mkfifo(str(tmp_path / 'f'))
        os.symlink(str(tmp_path / 'f'), str(path))
    elif kind == 'dev-zero':
        path = Path('/dev/zero')
    elif kind == 'sparse':
        with open(str(path), 'wb') as fh:
            fh.truncate(100 * 1024 * 1024)
    else:
        path.mkdir()
    before = snapshot(router.parent)
    res = run('opkg_feed', feed(router, str(path)))
    refused(res, 'key file %s' % path)
    assert snapshot(router.parent) == before


@pytest.mark.parametrize('key', ['untrusted comment: x\x00\nRWQ=', 'RWQ\x1b=', 'untrusted comment: \x7f\nRWQ='])
def test_opkg_feed_key_text_with_control_characters_is_refused_unprinted(router, key):
    before = snapshot(router.parent)
    res = run('opkg_feed', feed(router, key))
    refused(res, 'key holds control characters', 'content not shown')
    assert key not in json.dumps(res) and 'RWQ' not in res['msg']
    assert snapshot(router.parent) == before


def test_opkg_feed_read_only_root_fails_unchanged(tiny_fs, feedkey):
    root = tiny_fs.path / 'router'
    (root / 'etc' / 'opkg' / 'keys').mkdir(parents=True)
    (root / 'etc' / 'opkg' / 'customfeeds.conf').write_text(FEEDS)
    (root / 'etc' / 'opkg.conf').write_text('option check_signature\n')
    before = snapshot(root)
    subprocess.run(['mount', '-o', 'remount,ro', str(tiny_fs.path)], check=True)
    try:
        res = run('opkg_feed', feed(root, feedkey, updater='never'))
    finally:
        subprocess.run(['mount', '-o', 'remount,rw', str(tiny_fs.path)], check=True)
    refused(res, 'Read-only file system', 'that file is unchanged')
    assert res['changed'] is False
    assert snapshot(root) == before


def test_lua_strings_escape_every_control_character():
    from ansible_collections.turris.containers.plugins.module_utils import _opkg  # pylint: disable=import-outside-toplevel
    # pylint: disable-next=protected-access
    assert _opkg._lua_string('a\n"b\\\x00\r\x7f') == '"a\\010\\"b\\\\\\000\\013\\127"'
    with pytest.raises(_opkg.OpkgConfError, match='control'):
        _opkg.updater_repository('docker', 'https://x/y', [], '/etc/opkg/x\n.conf')
