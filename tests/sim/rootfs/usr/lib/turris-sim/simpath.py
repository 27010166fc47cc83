# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the collection's private helpers (``_usign``, ``_opkg``, ``_uci``, ``_files``) importable.

On a simulated router they are copied beside this file (``/usr/lib/turris-sim``);
on the host the tools run straight from the repository, where they live in
``plugins/module_utils`` six directories up.

They are importable both flat (``import _uci``) and by their name in the collection
(``ansible_collections.turris.containers.plugins.module_utils._files``), which is how one
helper imports another: the package names are registered here pointing at the directory
that holds them, so the collection's code needs no fallback for the simulator.
"""
import importlib
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_MODULE_UTILS = os.path.normpath(os.path.join(HERE, *([os.pardir] * 6 + ["plugins", "module_utils"])))
PACKAGE = "ansible_collections.turris.containers.plugins.module_utils"

for _path in (REPO_MODULE_UTILS, HERE):
    if os.path.isdir(_path) and _path not in sys.path:
        sys.path.insert(0, _path)


def _module_utils_dir():
    for path in (REPO_MODULE_UTILS, HERE):
        if os.path.isfile(os.path.join(path, "_uci.py")):
            return path
    raise ImportError("the collection's module_utils are neither in %s nor in %s" % (REPO_MODULE_UTILS, HERE))


def _register_package():
    """Unless the collection is importable already (a test process that has it on its path),
    register its module_utils package by name, pointing at the directory that holds them."""
    try:
        importlib.import_module(PACKAGE)
        return
    except ImportError:
        pass
    parts = PACKAGE.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name in sys.modules:
            continue
        mod = types.ModuleType(name)
        mod.__path__ = [_module_utils_dir()] if i == len(parts) else []
        sys.modules[name] = mod
        if i > 1:
            setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], mod)


_register_package()
