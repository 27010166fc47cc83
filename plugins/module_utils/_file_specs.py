# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, turris.containers contributors
#
# This module_utils file is PRIVATE to the turris.containers collection: its API may change
# between releases without notice. Do not import it from outside the collection.
"""Whole files given as text, written in one module call: the ``files`` option of
``lxc_container`` (into a container's root filesystem) and of ``router_files`` (onto the router).

:func:`check` judges the list before anything is touched, :func:`changes` compares each file
with what ``root`` holds and gives the diff of those that differ, :func:`write` writes one file atomically (``_files``),
making missing parent directories. A path never leaves ``root`` (``..``, or a symbolic link that
points out of it); a secret content never shows in a refusal, a diff or a result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.turris.containers.plugins.module_utils import _files
from ansible_collections.turris.containers.plugins.module_utils import _validate
from ansible_collections.turris.containers.plugins.module_utils._validate import ValidationError

# One file's content at most (text); the module's arguments travel over SSH whole.
MAX_BYTES = 1024 * 1024
SECRET_SHOWN = '(secret content, not shown)\n'
SECRET_CHANGED = '(secret content, changed, not shown)\n'
_MODE_RE = re.compile(r'0?[0-7]{3,4}\Z')


def path_rule(where):
    return 'an absolute path inside %s, without ".." components or control characters' % where


def check(files, where='the container'):
    """The ``files`` option judged before anything is touched: ``[{path, content, mode, owner,
    group, secret}]`` with ``path`` normalized and ``mode`` an int. ``where`` names the root in
    messages. Raises :class:`ValidationError`, which never shows a content."""
    out = []
    seen = set()
    for i, f in enumerate(files or ()):
        field = 'files[%d].path' % i
        path = f.get('path')
        _validate.check_no_control(field, path, allowed=path_rule(where))
        if not isinstance(path, str) or not path.startswith('/') or '..' in path.split('/') \
                or path.rstrip('/') == '' or path.endswith('/'):
            raise ValidationError(field, path, path_rule(where))
        path = '/' + '/'.join(c for c in path.split('/') if c not in ('', '.'))
        if path in seen:
            raise ValidationError(field, path, 'each path once')
        seen.add(path)
        content = f.get('content')
        if not isinstance(content, str):
            raise ValidationError('files[%d].content (for %s)' % (i, path), None, 'text is needed', hidden=True)
        if len(content.encode('utf-8', 'surrogateescape')) > MAX_BYTES:
            raise ValidationError('files[%d].content (for %s)' % (i, path), None, 'at most %d bytes' % MAX_BYTES,
                                  hidden=True)
        mode = f.get('mode')
        mode = '0644' if mode is None else mode
        # an int is the mode itself (YAML reads 0644 unquoted as 420), a string is octal
        if isinstance(mode, int) and not isinstance(mode, bool) and 0 <= mode <= 0o7777:
            mode = '%o' % mode
        if not isinstance(mode, str) or not _MODE_RE.match(mode):
            raise ValidationError('files[%d].mode' % i, mode, 'an octal mode such as 0644')
        ids = []
        for key in ('owner', 'group'):
            value = f.get(key)
            value = 0 if value is None else value
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2 ** 32:
                raise ValidationError('files[%d].%s' % (i, key), value, 'a numeric id (0 to 4294967295)')
            ids.append(value)
        out.append({'path': path, 'content': content, 'mode': int(mode, 8), 'owner': ids[0], 'group': ids[1],
                    'secret': bool(f.get('secret'))})
    return out


def change(spec, current):
    """Whether ``spec`` (an item of :func:`check`) differs from ``current`` (None: no such file,
    else ``{content (bytes), mode, owner, group}``), and the diff entry ``(before, after)``: a
    secret shows only that it changed."""
    want = spec['content'].encode('utf-8', 'surrogateescape')
    meta = (spec['mode'], spec['owner'], spec['group'])
    if current is None:
        changed = True
        before = ''
    else:
        changed = current['content'] != want or (current['mode'], current['owner'], current['group']) != meta
        before = current['content'].decode('utf-8', 'replace')
    after = spec['content']
    if spec['secret']:
        before = '' if current is None else SECRET_SHOWN
        after = SECRET_SHOWN if not changed or current is None else SECRET_CHANGED
    return changed, before, after


def current(field, host):
    """What ``host`` (a path on this machine) holds: None when nothing is there, else
    ``{content, mode, owner, group}``. Refuses (:class:`ValidationError`) anything but a regular
    file, or one far bigger than a spec may be."""
    if not os.path.lexists(host):
        return None
    data = _validate.read_regular(field, host, MAX_BYTES * 2)
    st = os.stat(host)
    return {'content': data, 'mode': st.st_mode & 0o7777, 'owner': st.st_uid, 'group': st.st_gid}


def changes(specs, root, exists=True):
    """``[(spec, host path, before, after)]``: the checked ``specs`` whose file under ``root``
    differs, with their diff (the files of a root that does not exist yet, ``exists`` false, are
    all new). Raises :class:`ValidationError` for a path that would leave ``root`` or is not a
    regular file, ``OSError`` when one cannot be read."""
    out = []
    for i, spec in enumerate(specs):
        field = 'files[%d].path' % i
        host = None
        now = None
        if exists:
            host = _validate.check_path_inside(field, root, spec['path'])
            now = current(field, host)
        changed, before, after = change(spec, now)
        if changed:
            out.append((spec, host, before, after))
    return out


def header(spec, prefix=''):
    """The diff header of one file: its path, mode and owner."""
    return '%s%s (mode %04o, owner %d:%d)' % (prefix, spec['path'], spec['mode'], spec['owner'], spec['group'])


def write(spec, host, root):
    """Write one changed file: missing parent directories (mode 0755) first, then the content
    atomically, then its owner and mode. Raises :class:`_files.FileWriteError` naming the path
    (the file is as it was, or written whole), or :class:`ValidationError` (a directory made just
    now resolves out of ``root``)."""
    try:
        parent = os.path.dirname(host)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
            _validate.check_path_inside('files.path', root, spec['path'])
        _files.write_atomic(host, spec['content'], new_mode=spec['mode'])
        real = os.path.realpath(host)
        os.chown(real, spec['owner'], spec['group'])
        os.chmod(real, spec['mode'])
    except _files.FileWriteError:
        raise
    except OSError as exc:
        raise _files.FileWriteError(spec['path'], exc.strerror or str(exc), exc.errno)


def argument_spec():
    """The ``files`` option's argument spec, as both modules take it."""
    return dict(type='list', elements='dict', options=dict(
        path=dict(type='str', required=True),
        content=dict(type='str', required=True),
        mode=dict(type='raw', default='0644'),
        owner=dict(type='int', default=0),
        group=dict(type='int', default=0),
        secret=dict(type='bool', default=False),
    ))
