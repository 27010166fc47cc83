# SPDX-License-Identifier: GPL-3.0-or-later
"""_files.write_atomic / remove on real files: mode and owner kept, symlinks followed, and
failures (a full disk, a file size limit, a read-only filesystem, a directory the writer may
not write) that leave the original bytes and no temporary file behind."""
import errno
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ansible_collections.turris.containers.plugins.module_utils import _files

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit/plugins: tinyfs
from tinyfs import tiny_fs  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

ORIGINAL = b"config globals 'globals'\n\toption data_root '/srv/docker/'\n"
BIG = b"x" * (1024 * 1024)
ROOT = Path(__file__).resolve().parents[4]


def listing(directory):
    return sorted(os.listdir(str(directory)))


def test_new_file_gets_the_bytes_and_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        path = _files.write_atomic(str(tmp_path / "a"), b"one\n")
    finally:
        os.umask(old)
    assert path == str(tmp_path / "a")
    assert (tmp_path / "a").read_bytes() == b"one\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    _files.write_atomic(str(tmp_path / "b"), u"dv\u011b \udcff\n", new_mode=0o600)
    assert (tmp_path / "b").read_bytes() == u"dv\u011b ".encode("utf-8") + b"\xff\n"
    assert stat.S_IMODE(os.stat(str(tmp_path / "b")).st_mode) == 0o600
    assert listing(tmp_path) == ["a", "b"]


def test_existing_file_keeps_mode_and_owner(tmp_path):
    path = tmp_path / "dockerd"
    path.write_bytes(ORIGINAL)
    os.chmod(str(path), 0o640)
    if os.geteuid() == 0:
        os.chown(str(path), 1234, 4321)
    _files.write_atomic(str(path), b"new\n", new_mode=0o600)
    st = os.stat(str(path))
    assert path.read_bytes() == b"new\n"
    assert stat.S_IMODE(st.st_mode) == 0o640
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (1234, 4321)
    assert listing(tmp_path) == ["dockerd"]


def test_symlink_is_followed_and_kept(tmp_path):
    (tmp_path / "real").write_bytes(ORIGINAL)
    os.symlink("real", str(tmp_path / "link"))
    _files.write_atomic(str(tmp_path / "link"), b"through the link\n")
    assert os.readlink(str(tmp_path / "link")) == "real"
    assert (tmp_path / "real").read_bytes() == b"through the link\n"
    assert listing(tmp_path) == ["link", "real"]


def test_temp_name_prefix(tmp_path, monkeypatch):
    seen = []
    real_rename = os.rename
    monkeypatch.setattr(os, "rename", lambda src, dst: (seen.append(os.path.basename(src)), real_rename(src, dst)))
    _files.write_atomic(str(tmp_path / "customfeeds.conf"), b"x")
    _files.write_atomic(str(tmp_path / "network"), b"x", prefix=".network.uci-")
    assert seen[0].startswith(".customfeeds.conf.") and len(seen[0]) == len(".customfeeds.conf.") + 6
    assert seen[1].startswith(".network.uci-") and len(seen[1]) == len(".network.uci-") + 6


def test_a_directory_in_the_way_is_refused(tmp_path):
    (tmp_path / "conf").mkdir()
    with pytest.raises(_files.FileWriteError) as err:
        _files.write_atomic(str(tmp_path / "conf"), b"x")
    assert err.value.path == str(tmp_path / "conf")
    assert str(err.value) == "cannot write %s: it exists and is not a regular file" % (tmp_path / "conf")
    assert isinstance(err.value, OSError) and err.value.errno == errno.EISDIR
    assert listing(tmp_path) == ["conf"]


def test_missing_directory_is_an_error_naming_the_path(tmp_path):
    with pytest.raises(_files.FileWriteError) as err:
        _files.write_atomic(str(tmp_path / "nothere" / "f"), b"x")
    assert str(err.value).startswith("cannot write %s: No such file or directory" % (tmp_path / "nothere" / "f"))
    assert err.value.errno == errno.ENOENT


def test_full_disk_leaves_the_original_and_no_temp(tiny_fs):
    path = tiny_fs.path / "lxc-auto"
    path.write_bytes(ORIGINAL)
    os.chmod(str(path), 0o644)
    with pytest.raises(_files.FileWriteError) as err:
        _files.write_atomic(str(path), BIG)
    assert err.value.errno == errno.ENOSPC
    assert str(err.value) == "cannot write %s: No space left on device" % path
    assert path.read_bytes() == ORIGINAL
    assert listing(tiny_fs.path) == ["lxc-auto"]
    # room for the small write, none for a byte more
    _files.write_atomic(str(path), b"small\n")
    assert path.read_bytes() == b"small\n" and listing(tiny_fs.path) == ["lxc-auto"]
    tiny_fs.fill()
    with pytest.raises(_files.FileWriteError) as err:
        _files.write_atomic(str(path), b"tiny\n")
    assert err.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"small\n" and tiny_fs.files() == ["lxc-auto"]


def test_read_only_filesystem_leaves_the_original(tiny_fs):
    path = tiny_fs.path / "network"
    path.write_bytes(ORIGINAL)
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs.path)], check=True)
    with pytest.raises(_files.FileWriteError) as err:
        _files.write_atomic(str(path), b"new\n")
    assert err.value.errno == errno.EROFS and str(err.value).startswith("cannot write %s: " % path)
    assert path.read_bytes() == ORIGINAL
    with pytest.raises(_files.FileWriteError):
        _files.remove(str(path))
    assert path.read_bytes() == ORIGINAL


def _child(script, preexec):
    """Run ``script`` in a fresh interpreter with the repository's _files.py importable (a copy
    in a world-readable directory, so that a process running as nobody can import it too)."""
    lib = tempfile.mkdtemp(prefix="turris-files-lib-")
    try:
        os.chmod(lib, 0o755)
        shutil.copy(str(ROOT / "plugins" / "module_utils" / "_files.py"), lib)
        env = dict(os.environ, PYTHONPATH=lib)
        return subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, env=env,
                              preexec_fn=preexec, timeout=60, check=False, cwd=lib)
    finally:
        shutil.rmtree(lib)


# an interpreter every user may run (the venv's may sit in root's home)
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
CHILD = """
import sys
import _files
try:
    _files.write_atomic(sys.argv[1] if len(sys.argv) > 1 else %r, b"x" * (1024 * 1024))
except _files.FileWriteError as exc:
    print("FileWriteError", exc.errno, exc)
    sys.exit(3)
print("written")
"""


def test_file_size_limit_is_a_clean_failure(tmp_path):
    path = tmp_path / "customfeeds.conf"
    path.write_bytes(ORIGINAL)

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    proc = _child(CHILD % str(path), limit)
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert proc.stdout.startswith("FileWriteError %d cannot write %s: File too large" % (errno.EFBIG, path))
    assert path.read_bytes() == ORIGINAL
    assert listing(tmp_path) == ["customfeeds.conf"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the writer as another user (nobody)")
def test_unwritable_directory_for_an_unprivileged_writer(tmp_path):
    top = Path(tempfile.mkdtemp(prefix="turris-files-"))  # pytest's tmp_path is 0700: nobody cannot reach it
    try:
        os.chmod(str(top), 0o755)
        path = top / "opkg.conf"
        path.write_bytes(ORIGINAL)
        os.chmod(str(path), 0o666)  # the file itself is writable, its directory is not

        def as_nobody():
            os.setgid(65534)
            os.setuid(65534)

        proc = _child(CHILD % str(path), as_nobody)
        assert proc.returncode == 3, (proc.stdout, proc.stderr)
        assert proc.stdout.startswith("FileWriteError %d cannot write %s: Permission denied" % (errno.EACCES, path))
        assert path.read_bytes() == ORIGINAL
        assert listing(top) == ["opkg.conf"]
    finally:
        for name in os.listdir(str(top)):
            os.unlink(str(top / name))
        os.rmdir(str(top))


def test_remove(tmp_path):
    (tmp_path / "k").write_bytes(b"key")
    assert _files.remove(str(tmp_path / "k")) is True
    assert _files.remove(str(tmp_path / "k")) is False
    (tmp_path / "d").mkdir()
    with pytest.raises(_files.FileWriteError) as err:
        _files.remove(str(tmp_path / "d"))
    assert str(err.value).startswith("cannot write %s: " % (tmp_path / "d"))
    assert listing(tmp_path) == ["d"]
