# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2025, turris.containers contributors
#
# This module_utils file is PRIVATE to the turris.containers collection: its API may change
# between releases without notice. Do not import it from outside the collection.
"""The one way the collection's modules write a file: atomically, or not at all.

:func:`write_atomic` writes to a temporary file in the same directory, flushes and fsyncs it,
gives it the mode and owner of the file it replaces, renames it over that file and fsyncs the
directory, so that a reader (or a power cut, which a router sees more often than a server)
finds either the old bytes or the new ones, never a mix. When anything fails before the
rename — a full disk, a read-only or unwritable directory — the original is left as it was,
the temporary file is removed, and :class:`FileWriteError` names the path and the reason;
modules turn it into ``fail_json(changed=False, msg=...)``.

Pure standard library (Python 3.8+ on the router, no Ansible import), so the simulator and
the unit tests use it as they are. Unlike ``AnsibleModule.atomic_move`` it does not copy an
SELinux context: Turris OS does not run SELinux.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import random
import stat
import string

_TEMP_CHARS = string.ascii_letters + string.digits
_TEMP_TRIES = 100


class FileWriteError(OSError):
    """A file could not be written (or removed); the original is unchanged.

    ``path`` is the file the caller wanted to write, ``reason`` the system's words and
    ``errno`` the error number when the system gave one. It is an ``OSError``, so callers that
    caught ``OSError`` around a write keep working; ``str()`` is the whole message."""

    def __init__(self, path, reason, error_number=None):
        super(FileWriteError, self).__init__(error_number, reason, path)
        self.path = path
        self.reason = reason

    def __str__(self):
        return 'cannot write %s: %s' % (self.path, self.reason)


def _reason(exc):
    if isinstance(exc, OSError) and exc.strerror:
        if exc.filename:
            return '%s (%s)' % (exc.strerror, exc.filename)
        return exc.strerror
    return str(exc)


def _to_bytes(data):
    if isinstance(data, bytes):
        return data
    return data.encode('utf-8', 'surrogateescape')


def _default_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _open_temp(directory, prefix, suffix_len):
    rng = random.SystemRandom()
    for dummy in range(_TEMP_TRIES):
        tmp = os.path.join(directory, prefix + ''.join(rng.choice(_TEMP_CHARS) for i in range(suffix_len)))
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
    raise OSError(errno.EEXIST, 'no free temporary file name after %d tries' % _TEMP_TRIES, directory)


def fsync_dir(directory):
    """Make a rename or unlink in ``directory`` durable. Filesystems that cannot fsync a
    directory (EINVAL) have nothing more to flush; other errors are raised."""
    flags = os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0)
    fd = os.open(directory, flags)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def write_atomic(path, data, new_mode=None, prefix=None, suffix_len=6):
    """Replace ``path`` with ``data`` (bytes, or text written as UTF-8) atomically.

    An existing file keeps its mode and owner; a new one gets ``new_mode`` (default:
    ``0666`` less the umask, what ``open()`` would give). The temporary file is
    ``<prefix><random>`` in the same directory (default prefix ``.<name>.``).
    A symbolic link is followed: its target is replaced and the link stays, as ``uci commit``
    does (libuci renames onto the ``realpath`` of the file). The directory must exist.
    Returns ``path``; raises :class:`FileWriteError`.
    """
    path = os.path.abspath(path)
    real = os.path.realpath(path)
    directory, name = os.path.split(real)
    try:
        st = os.stat(real)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise FileWriteError(path, _reason(exc), exc.errno)
        st = None
    if st is not None and not _is_regular(st):
        raise FileWriteError(path, 'it exists and is not a regular file', errno.EISDIR if stat.S_ISDIR(st.st_mode) else None)
    mode = (st.st_mode & 0o7777) if st is not None else (_default_mode() if new_mode is None else new_mode)
    payload = _to_bytes(data)
    tmp = None
    try:
        tmp, fd = _open_temp(directory, '.%s.' % name if prefix is None else prefix, suffix_len)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            os.fchmod(fd, mode)
            if st is not None and (st.st_uid, st.st_gid) != _owner(fd):
                try:
                    os.fchown(fd, st.st_uid, st.st_gid)
                except OSError as exc:
                    # only root may give a file away; an unprivileged writer keeps its own,
                    # as AnsibleModule.atomic_move does
                    if exc.errno != errno.EPERM:
                        raise
        finally:
            os.close(fd)
        os.rename(tmp, real)
        tmp = None
        fsync_dir(directory)
    except (IOError, OSError) as exc:
        raise FileWriteError(path, _reason(exc), exc.errno)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return path


def remove(path):
    """Remove ``path`` durably (missing is fine). Returns True when a file was removed;
    raises :class:`FileWriteError`."""
    path = os.path.abspath(path)
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise FileWriteError(path, _reason(exc), exc.errno)
    try:
        fsync_dir(os.path.dirname(path))
    except OSError as exc:
        raise FileWriteError(path, _reason(exc), exc.errno)
    return True


def _owner(fd):
    st = os.fstat(fd)
    return st.st_uid, st.st_gid


def _is_regular(st):
    return stat.S_ISREG(st.st_mode)
