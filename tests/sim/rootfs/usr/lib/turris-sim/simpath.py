# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the collection's private helpers (``_usign``, ``_opkg``) importable.

On a simulated router they are copied beside this file (``/usr/lib/turris-sim``);
on the host the tools run straight from the repository, where they live in
``plugins/module_utils`` six directories up.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_MODULE_UTILS = os.path.normpath(os.path.join(HERE, *([os.pardir] * 6 + ["plugins", "module_utils"])))

for _path in (REPO_MODULE_UTILS, HERE):
    if os.path.isdir(_path) and _path not in sys.path:
        sys.path.insert(0, _path)
