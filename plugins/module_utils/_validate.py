# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2025, turris.containers contributors
#
# This module_utils file is PRIVATE to the turris.containers collection: its API may change
# between releases without notice. Do not import it from outside the collection.
"""The one place where the collection decides which input values it accepts.

Every value that ends up in a file on the router (UCI, opkg configuration, the Turris
updater's Lua files, kernel configs) or on a command line goes through these checks first.
A refusal is a :class:`ValidationError` that names the field, the bad value (``repr``, so a
newline shows as ``\\n``; never the value of a secret nor the content of a file) and what is
allowed. Modules turn it into ``fail_json(msg=str(exc))`` before anything is written.

Pure standard library (no Ansible import), so unit tests and the simulator use it as is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import stat
import zlib

# A control character is C0 (U+0000..U+001F), DEL (U+007F) or C1 (U+0080..U+009F): none of
# them is printable, each can end a line or a comment for some reader (a newline ends a Lua
# comment, a line of opkg.conf or of a kernel config), or hides text from whoever reads a log.
_CONTROL_RE = re.compile(u'[\u0000-\u001f\u007f-\u009f]')
CONTROL_RULE = 'no control characters (newline, carriage return, tab, NUL, escape ...)'

NAME_RE = re.compile(r'^[A-Za-z0-9_]+\Z')
NAME_RULE = 'letters, digits and underscores only ([A-Za-z0-9_]+)'

# Kernel configs of a build tree: an OpenWrt .config with every package selected is a few MB,
# a kernel .config a few hundred kB. 16 MiB leaves room for both and is little next to the
# 512 MB of the smallest Turris (MOX A); /dev/zero or a runaway log would otherwise be read whole.
KCONFIG_MAX_BYTES = 16 * 1024 * 1024
# A usign public key file is two lines, about 110 bytes.
KEY_FILE_MAX_BYTES = 4096


class ValidationError(ValueError):
    """Input refused before anything was changed.

    ``field`` is the parameter (or part of it) that was wrong, ``value`` what was given
    (None when it must not be shown), ``allowed`` what would have been accepted."""

    def __init__(self, field, value, allowed, hidden=False):
        super(ValidationError, self).__init__(field, value, allowed)
        self.field = field
        self.value = None if hidden else value
        self.hidden = hidden
        self.allowed = allowed

    def __str__(self):
        if self.hidden:
            return 'invalid %s (value not shown): %s' % (self.field, self.allowed)
        return 'invalid %s %s: %s' % (self.field, shown(self.value), self.allowed)


# A refused value is shown whole up to this many characters of its repr, then cut: a megabyte
# of garbage in a variable must not become a megabyte of error message (and of log).
SHOWN_MAX = 200


def shown(value, limit=SHOWN_MAX):
    """``repr(value)``, cut after ``limit`` characters with a note of its full length."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return '%s... (%d characters in all)' % (text[:limit], len(text))


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'surrogateescape')
    return value


def control_characters(value, allow=''):
    """The control characters of ``value`` that are not in ``allow``, in order."""
    return [c for c in _CONTROL_RE.findall(_text(value)) if c not in allow]


def check_no_control(field, value, allow='', hidden=False, allowed=None):
    """Refuse ``value`` when it holds a control character other than those in ``allow``.
    Returns ``value``."""
    if value is None:
        return value
    bad = control_characters(value, allow)
    if bad:
        raise ValidationError(field, value, '%s; found %r' % (allowed or CONTROL_RULE, bad[0]), hidden)
    return value


def check_name(field, value, regex=NAME_RE, rule=NAME_RULE):
    """Refuse ``value`` unless it is a string matching ``regex`` (``rule`` says what it allows)."""
    if not isinstance(value, str) or not regex.match(value) or control_characters(value):
        raise ValidationError(field, value, rule)
    return value


def check_path_inside(field, root, path):
    """The host path of the router path ``path`` under ``root``, refused when it could leave root.

    ``path`` must be absolute, free of control characters and ``..`` components, and, once
    symbolic links of the part that exists are resolved, still inside ``root`` (resolved too).
    """
    check_no_control(field, path)
    if not isinstance(path, str) or not path.startswith('/'):
        raise ValidationError(field, path, 'an absolute path inside root')
    if '..' in path.split('/'):
        raise ValidationError(field, path, 'a path without ".." components, inside root')
    real_root = os.path.realpath(root)
    host = os.path.join(real_root, path.lstrip('/'))
    real = os.path.realpath(host)
    if real != real_root and not real.startswith(real_root.rstrip('/') + '/'):
        raise ValidationError(field, path, 'a path inside root %s; it resolves (through a symbolic link) to %s'
                              % (root, real))
    return host


def open_regular(field, path):
    """A file object (binary) of ``path``, which must be a regular file after symbolic links.

    Opened with O_NONBLOCK so that a FIFO never blocks; a FIFO, a device, a socket or a
    directory is refused by its type before anything is read."""
    flags = os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_NOCTTY', 0) | getattr(os, 'O_CLOEXEC', 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO without a writer on some systems
            raise ValidationError(field, path, 'a regular file; this is not one')
        raise ValidationError(field, path, 'a readable regular file; %s' % (exc.strerror or exc))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValidationError(field, path, 'a regular file (after symbolic links); this is a %s'
                                  % _file_kind(st.st_mode))
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, 'rb')


def _file_kind(mode):
    for test, name in ((stat.S_ISDIR, 'directory'), (stat.S_ISFIFO, 'FIFO (named pipe)'),
                       (stat.S_ISCHR, 'character device'), (stat.S_ISBLK, 'block device'),
                       (stat.S_ISSOCK, 'socket')):
        if test(mode):
            return name
    return 'special file'


def read_regular(field, path, max_bytes):
    """The bytes of the regular file ``path``, at most ``max_bytes``.

    The size is checked before reading and again while reading, because files of /proc
    (``/proc/config.gz``) report a size of 0 and are still read in full."""
    with open_regular(field, path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise ValidationError(field, path, 'a file of at most %d bytes; it has %d' % (max_bytes, size))
        chunks = []
        total = 0
        while True:
            try:
                chunk = fh.read(min(65536, max_bytes + 1 - total))
            except (IOError, OSError) as exc:
                raise ValidationError(field, path, 'a readable regular file; %s' % (exc.strerror or exc))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise ValidationError(field, path, 'a file of at most %d bytes; it has more' % max_bytes)
    return b''.join(chunks)


def gunzip_capped(field, path, data, max_bytes):
    """``data`` decompressed when it is gzip (by its magic), refused beyond ``max_bytes``."""
    if data[:2] != b'\x1f\x8b':
        return data
    out = []
    total = 0
    try:
        while data:
            dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
            pending = data
            while pending:
                chunk = dec.decompress(pending, max_bytes + 1 - total)
                out.append(chunk)
                total += len(chunk)
                if total > max_bytes:
                    raise ValidationError(field, path, 'at most %d bytes once decompressed; it has more'
                                          % max_bytes)
                pending = dec.unconsumed_tail
                if dec.eof:
                    break
            if not dec.eof:
                raise ValidationError(field, path, 'a complete gzip file; it is truncated')
            data = dec.unused_data.lstrip(b'\0')  # concatenated members, trailing padding
            if data and data[:2] != b'\x1f\x8b':
                break
    except zlib.error as exc:
        raise ValidationError(field, path, 'plain text or valid gzip data; corrupt gzip data (%s)' % exc)
    return b''.join(out)


def decode_text(field, path, data):
    """``data`` as text, refused when it is binary: a NUL byte, or bytes that are not UTF-8."""
    if b'\0' in data:
        raise ValidationError(field, path, 'a text file; it contains NUL bytes (a binary file?)')
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ValidationError(field, path, 'a UTF-8 text file; byte %d is not UTF-8 (a binary file?)' % exc.start)


def read_text_file(field, path, max_bytes, gzip_ok=False):
    """Text of the regular file ``path`` (gunzipped when ``gzip_ok``), size-capped, not binary."""
    data = read_regular(field, path, max_bytes)
    if gzip_ok:
        data = gunzip_capped(field, path, data, max_bytes)
    return decode_text(field, path, data)


# UCI section types. libuci accepts bytes 33..126 (uci_validate_type) and writes a type
# unquoted (``config TYPE 'name'``, uci_export_package in openwrt/uci file.c); its parser then
# reads ' and " as quotes, # as a comment, ; as the end of the command and \ as an escape, so a
# type holding one of them does not read back (the file no longer parses, or the named section
# becomes an anonymous one). Only what libuci's own parser reads back is accepted.
UCI_TYPE_RE = re.compile(r'^[!$-&(-:<-\[\]-~]+\Z')
UCI_TYPE_RULE = ("a non-empty word of printable ASCII (bytes 33-126) without ' \" # ; or \\ "
                 "(libuci writes types unquoted and could not read these back)")


def check_uci_type(field, value):
    """Refuse a UCI section type that libuci would write but could not read back."""
    return check_name(field, value, UCI_TYPE_RE, UCI_TYPE_RULE)


# Network interface names, as the kernel takes them (dev_valid_name in net/core/dev.c: at most
# IFNAMSIZ - 1 = 15 bytes, no '/', ':' or white space, not '.' or '..'), narrowed to what OpenWrt
# and LXC configs use (br-lan, eth0.2, lxcbr0, wlan0-1) so that a name is also a safe word in a
# UCI file, an LXC config line and a command line.
IFNAME_RE = re.compile(r'^(?!\.{1,2}\Z)[A-Za-z0-9_.-]{1,15}\Z')
IFNAME_RULE = "an interface name: 1 to 15 of A-Z a-z 0-9 _ . - (not '.' or '..')"


def check_ifname(field, value):
    """Refuse ``value`` unless it is a network interface name the kernel and UCI both accept."""
    return check_name(field, value, IFNAME_RE, IFNAME_RULE)


# Image fields (dist, release, variant, arch) of an LXC image server: the download template
# builds the cache path <cache>/<dist>/<release>/<arch>/<variant> from them and removes it with
# rm -Rf, and passes them to wget in a URL. Real servers use words such as Turris_OS, Debian,
# Bookworm, stable, 23.05, default, armv7l, aarch64: no '/', no '..', no white space.
IMAGE_FIELD_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.+~-]{0,63}\Z')
IMAGE_FIELD_RULE = ('1 to 64 of A-Z a-z 0-9 _ . + ~ -, starting with a letter or digit '
                    '(no "/", white space or control characters: the value becomes a directory name)')


def check_image_field(field, value):
    """Refuse an image name part that is not a single safe path component."""
    if isinstance(value, str) and '..' in value:
        raise ValidationError(field, value, IMAGE_FIELD_RULE + '; ".." is refused')
    return check_name(field, value, IMAGE_FIELD_RE, IMAGE_FIELD_RULE)


# Package names for opkg and apt: OpenWrt's and Debian's package names ([a-z0-9][a-z0-9+.-]+, and
# _ in some OpenWrt feeds), plus apt's name=version and name:arch. They reach the package manager
# as separate words of a shell command line: no white space, quotes, glob characters or a leading
# '-' (which would be an option).
PACKAGE_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.+~:=-]{0,127}\Z')
PACKAGE_RULE = ('a package name: 1 to 128 of A-Z a-z 0-9 _ . + ~ : = -, starting with a letter or '
                'digit (apt also takes name=version and name:arch)')


def check_package(field, value):
    """Refuse ``value`` unless it is one package name (optionally with apt's =version / :arch)."""
    return check_name(field, value, PACKAGE_RE, PACKAGE_RULE)
