# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2025, turris.containers contributors
"""The parts of libuci that only the simulator's ``uci`` command needs: loading a package with
the whole delta path, ``commit``, ``revert``, ``import`` and the list of packages.

They sit on the collection's ``_uci`` (the parser, the writer, delta files); the collection's
modules do not need them, so they are not shipped in its ``module_utils``. The simulator
imports from the collection, never the other way round.
"""
import fcntl
import os

import simpath  # noqa: F401  pylint: disable=unused-import
import _uci as uci  # pylint: disable=wrong-import-order


def parse_into(data, pkg, strict=True, track=True):
    """``uci import -m``: merge the text of a config file into the loaded ``pkg``, recording
    the changes as deltas (``track``). Returns the parse errors skipped when not ``strict``."""
    parser = uci._Parser(data, pkg, strict, track=track, name=pkg.name, signed_char=pkg.signed_char)
    parser.run()
    return parser.errors


def parse_packages(data, name=None, strict=True, signed_char=True):
    """``uci import``: the packages of an import stream. Without ``name`` the stream names
    them with ``package NAME`` statements; with it, it is one package of that name."""
    parser = uci._Parser(data, None, strict, name=name, signed_char=signed_char)
    parser.run()
    if not parser.packages and name is not None:
        parser.packages.append(uci.Package(name, signed_char))
    return parser.packages, parser.errors


def list_configs(config_dir):
    """Package names in ``config_dir`` as libuci lists them (sorted, regular names only)."""
    try:
        names = sorted(os.listdir(config_dir))
    except OSError:
        raise uci.UciError(uci.UCI_ERR_NOTFOUND)
    return [n for n in names
            if '.' not in n and not os.path.isdir(os.path.join(config_dir, n)) and uci.validate_package(n)]


def load_package(name, config_dir='/etc/config', delta_dirs=('/tmp/.uci',), strict=True, signed_char=True):
    """``uci_load``: parse ``<config_dir>/<name>`` and replay the delta files of every
    directory in ``delta_dirs`` (libuci's delta path, the save directory last).

    Raises ``uci.UciError(Entry not found)`` when the file does not exist and
    :class:`UciParseError` when it does not parse."""
    path = os.path.join(config_dir, name)
    if not os.path.isfile(path):
        raise uci.UciError(uci.UCI_ERR_NOTFOUND)
    pkg = uci.parse_file(path, name, strict, signed_char)
    for d in delta_dirs or ():
        data = uci.read_delta_file(os.path.join(d, name))
        if data:
            uci.load_delta(pkg, data)
    return pkg


def revert(name, savedir, section=None, option=None):
    """``uci revert``: drop from ``<savedir>/<name>`` the changes of ``section`` (and
    ``option``), all of them when ``section`` is None, rewriting the rest as libuci does.
    A file with a malformed line is left untouched. Returns the records dropped."""
    path = os.path.join(savedir, name)
    data = uci.read_delta_file(path)
    if data is None:
        return []
    kept = []
    dropped = []
    for arg in uci.iter_arguments(data):
        if arg is None:
            return []
        try:
            cmd, ptr = uci._parse_delta_tuple(arg)
        except uci.UciError:
            return []
        d = uci.Delta(cmd, ptr.section, ptr.option, ptr.value)
        match = (section is None or ptr.section == section) and (option is None or ptr.option == option)
        (dropped if match else kept).append(d)
    with open(path, 'r+b') as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        f.seek(0)
        f.truncate(0)
        f.write(uci._to_bytes(''.join(d.to_delta_line(name) for d in kept)))
    return dropped


def commit(pkg, config_dir, delta_dirs=(), savedir=None):
    """``uci commit``: reload the file, replay the delta files, write the result when there was
    anything to replay, and empty the save directory's delta file. Returns True when written."""
    savedir_list = list(delta_dirs or ())
    if savedir and savedir not in savedir_list:
        savedir_list.append(savedir)
    if pkg.delta and savedir:
        uci.save_delta(pkg, savedir, config_dir)
    fresh = uci.parse_file(os.path.join(config_dir, pkg.name), pkg.name, signed_char=pkg.signed_char)
    changes = 0
    for d in savedir_list:
        data = uci.read_delta_file(os.path.join(d, pkg.name))
        if data:
            changes += uci.load_delta(fresh, data)
    if not changes:
        return False
    uci.write_package(config_dir, pkg.name, fresh.export(header=False))
    if savedir:
        spath = os.path.join(savedir, pkg.name)
        if os.path.exists(spath):
            with open(spath, 'r+b') as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
                f.truncate(0)
    return True
