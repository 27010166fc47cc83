# SPDX-License-Identifier: GPL-3.0-or-later
"""A really full disk for the writers' tests: the ``tiny_fs`` fixture (a 64 KiB tmpfs).

Import it into a test module with ``from tinyfs import tiny_fs``, after putting this directory on
``sys.path`` (not a conftest.py: that name is taken by tests/conftest.py, which tests import).
"""
import errno
import os
import subprocess
import tempfile
from pathlib import Path

import pytest


class TinyFs:
    """A mounted 64 KiB tmpfs; :meth:`fill` takes every free byte (a full disk, honestly)."""

    def __init__(self, path):
        self.path = path

    def fill(self, leave_pages=0):
        """Take every free byte but ``leave_pages`` memory pages (tmpfs counts whole pages)."""
        reserve = self.path / "reserve"
        if leave_pages:
            reserve.write_bytes(b"\0" * (leave_pages * os.sysconf("SC_PAGE_SIZE")))
        fd = os.open(str(self.path / "filler"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 512)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)
        if leave_pages:
            reserve.unlink()

    def files(self):
        return sorted(n for n in os.listdir(str(self.path)) if n != "filler")


@pytest.fixture
def tiny_fs():
    mnt = tempfile.mkdtemp(prefix="turris-tinyfs-")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", mnt],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        os.rmdir(mnt)
        pytest.skip("cannot mount a 64 KiB tmpfs to fill (%s): run the unit tests as root with the right to "
                    "mount, as make unit does on the project's machine" % proc.stderr.strip())
    try:
        yield TinyFs(Path(mnt))
    finally:
        subprocess.run(["umount", mnt], check=True)
        os.rmdir(mnt)
