# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection's one validation home, on real files: FIFOs, devices, sparse files, symlinks."""

import gzip
import os
import threading

import pytest

from ansible_collections.turris.containers.plugins.module_utils import _validate as v

CONTROL = ['a\nb', 'a\rb', 'a\x00b', 'a\tb', 'a\x1bb', 'a\x7fb', 'a\x85b', '\n', 'x\x0b', 'x\x0c']


@pytest.mark.parametrize('value', CONTROL)
def test_control_characters_are_refused_and_named(value):
    with pytest.raises(v.ValidationError) as err:
        v.check_no_control('url', value)
    msg = str(err.value)
    assert msg.startswith('invalid url %r' % value)
    assert 'no control characters' in msg


@pytest.mark.parametrize('value', ['plain', 'a b', "a'b", 'a"b', 'a;b', 'a#b', 'a\\b', 'žluťoučký', '', None])
def test_printable_values_pass(value):
    assert v.check_no_control('x', value) == value


def test_allowed_control_characters_and_hidden_values():
    assert v.check_no_control('value', 'a\nb\tc', allow='\n\t') == 'a\nb\tc'
    with pytest.raises(v.ValidationError) as err:
        v.check_no_control('password', 's3cr3t\x00', hidden=True)
    assert 's3cr3t' not in str(err.value) and 'password' in str(err.value)


@pytest.mark.parametrize('value', ['a-b', 'a.b', 'a b', '', 'a\n', '../x', 'ä', "a'", 'a;b', 5, None])
def test_names(value):
    with pytest.raises(v.ValidationError) as err:
        v.check_name('section', value)
    assert '[A-Za-z0-9_]+' in str(err.value)


@pytest.mark.parametrize('value', ["a'b", 'a"b', 'a#b', 'a;b', 'a\\b', 'a b', 'a\tb', 'a\nb', 'a\x00b',
                                   'a\x7fb', '', 'typ\xe9', 'x' * 3 + '\r'])
def test_uci_types_libuci_could_not_read_back_are_refused(value):
    with pytest.raises(v.ValidationError) as err:
        v.check_uci_type('section type', value)
    assert 'invalid section type %r' % value in str(err.value)


@pytest.mark.parametrize('value', ['interface', 'lxc-container', 'a.b', 'x@y', 'a/b', '!$%&()*+,-./:<=>?@[]^_`{|}~'])
def test_uci_types_libuci_reads_back_pass(value):
    assert v.check_uci_type('type', value) == value


@pytest.fixture
def root(tmp_path):
    r = tmp_path / 'root'
    (r / 'etc' / 'opkg').mkdir(parents=True)
    (tmp_path / 'outside').mkdir()
    os.symlink(str(tmp_path / 'outside'), str(r / 'etc' / 'opkg' / 'out'))
    os.symlink(str(tmp_path / 'outside' / 'x.conf'), str(r / 'etc' / 'opkg' / 'evil.conf'))
    os.symlink('../../../outside/x.conf', str(r / 'etc' / 'opkg' / 'rel.conf'))
    os.symlink('customfeeds.conf', str(r / 'etc' / 'opkg' / 'inside.conf'))
    return r


@pytest.mark.parametrize('path, words', [
    ('/etc/opkg/../../../x.conf', ['..']),
    ('/etc/opkg/..', ['..']),
    ('etc/opkg/x.conf', ['absolute']),
    ('x.conf', ['absolute']),
    ('', ['absolute']),
    ('/etc/opkg/evil.conf', ['resolves', 'outside']),
    ('/etc/opkg/rel.conf', ['resolves', 'outside']),
    ('/etc/opkg/out/x.conf', ['resolves', 'outside']),
    ('/etc/opkg/x\n.conf', ['control']),
    ('/etc/opkg/x\x00.conf', ['control']),
])
def test_paths_leaving_root_are_refused(root, path, words):
    with pytest.raises(v.ValidationError) as err:
        v.check_path_inside('file', str(root), path)
    msg = str(err.value)
    assert msg.startswith('invalid file %r' % path)
    for word in words:
        assert word in msg


def test_paths_inside_root(root):
    assert v.check_path_inside('file', str(root), '/etc/opkg/inside.conf') == str(root / 'etc/opkg/inside.conf')
    assert v.check_path_inside('file', str(root), '/etc/opkg/new/x.conf') == str(root / 'etc/opkg/new/x.conf')
    assert v.check_path_inside('file', '/', '/etc/opkg/customfeeds.conf') == '/etc/opkg/customfeeds.conf'


def _fifo(tmp_path):
    fifo = tmp_path / 'fifo'
    os.mkfifo(str(fifo))
    return fifo


def _run_bounded(func, *args):
    """Run func in a thread; a FIFO that blocks fails the test instead of hanging it."""
    box = {}

    def target():
        try:
            box['value'] = func(*args)
        except Exception as exc:  # pylint: disable=broad-except
            box['error'] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), 'blocked on %r' % (args,)
    return box


def _special_files(tmp_path):
    fifo = _fifo(tmp_path)
    link = tmp_path / 'link-to-fifo'
    os.symlink(str(fifo), str(link))
    return [(str(fifo), 'FIFO'), (str(link), 'FIFO'), ('/dev/zero', 'character device'),
            ('/dev/null', 'character device'), (str(tmp_path), 'directory')]


def test_only_regular_files_are_read(tmp_path):
    for path, kind in _special_files(tmp_path):
        box = _run_bounded(v.read_regular, 'path', path, 1024)
        err = box.get('error')
        assert isinstance(err, v.ValidationError), (path, box)
        assert 'regular file' in str(err) and kind in str(err) and repr(path) in str(err)


def test_size_cap_before_reading(tmp_path):
    sparse = tmp_path / 'sparse'
    with open(str(sparse), 'wb') as fh:
        fh.truncate(100 * 1024 * 1024)
    with pytest.raises(v.ValidationError, match='at most %d bytes; it has %d' % (v.KCONFIG_MAX_BYTES, 100 * 1024 * 1024)):
        v.read_regular('path', str(sparse), v.KCONFIG_MAX_BYTES)
    exact = tmp_path / 'exact'
    exact.write_bytes(b'x' * 100)
    assert v.read_regular('path', str(exact), 100) == b'x' * 100
    with pytest.raises(v.ValidationError, match='at most 99 bytes'):
        v.read_regular('path', str(exact), 99)


def test_proc_files_of_size_zero_are_read_whole():
    # like /proc/config.gz, /proc/self/status reports a size of 0 and has content
    assert os.stat('/proc/self/status').st_size == 0
    data = v.read_regular('path', '/proc/self/status', 1024 * 1024)
    assert b'Name:' in data
    with pytest.raises(v.ValidationError, match='at most 10 bytes; it has more'):
        v.read_regular('path', '/proc/self/status', 10)


@pytest.mark.parametrize('data, words', [
    (b'CONFIG_A=y\n\x00\x01\x02', ['NUL']),
    (b'CONFIG_A="\xff\xfe"\n', ['UTF-8', 'byte 10']),
    (b'\x7fELF\x02\x01\x01\x00', ['NUL']),
])
def test_binary_files_are_refused(tmp_path, data, words):
    path = tmp_path / 'config'
    path.write_bytes(data)
    with pytest.raises(v.ValidationError) as err:
        v.read_text_file('path', str(path), 1024)
    for word in words:
        assert word in str(err.value)


def test_gzip_is_capped_once_decompressed(tmp_path):
    bomb = tmp_path / 'bomb.gz'
    with gzip.open(str(bomb), 'wb') as fh:
        fh.write(b'\0' * (v.KCONFIG_MAX_BYTES + 1))
    assert bomb.stat().st_size < 100 * 1024
    with pytest.raises(v.ValidationError, match='once decompressed'):
        v.read_text_file('path', str(bomb), v.KCONFIG_MAX_BYTES, gzip_ok=True)
    good = tmp_path / 'good.gz'
    with gzip.open(str(good), 'wb') as fh:
        fh.write(b'CONFIG_A=y\n')
    assert v.read_text_file('path', str(good), 1024, gzip_ok=True) == 'CONFIG_A=y\n'
    truncated = tmp_path / 'truncated.gz'
    truncated.write_bytes(good.read_bytes()[:-12])
    with pytest.raises(v.ValidationError, match='truncated'):
        v.read_text_file('path', str(truncated), 1024, gzip_ok=True)
