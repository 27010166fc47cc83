# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's ``uci`` command (tests/sim/rootfs/sbin/uci) run as a program, over the
whole golden libuci corpus and on its other commands, with ``-c``/``-t`` temp dirs."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CONFORMANCE

ROOT = Path(__file__).resolve().parents[3]
UCI = ROOT / "tests" / "sim" / "rootfs" / "sbin" / "uci"
CORPUS = CONFORMANCE / "uci"
CASES = sorted(p.name for p in (CORPUS / "cases").iterdir())  # a missing corpus is a collection error
INVALID = sorted(p.name for p in (CORPUS / "invalid").iterdir())


def run(args, stdin=b"", conf=None, delta=None, check_rc=0):
    cmd = [sys.executable, str(UCI)]
    if conf is not None:
        cmd += ["-c", str(conf)]
    if delta is not None:
        cmd += ["-t", str(delta)]
    proc = subprocess.run(cmd + list(args), input=stdin, capture_output=True, timeout=60, check=False)
    if check_rc is not None:
        assert proc.returncode == check_rc, (args, proc.returncode, proc.stderr)
    return proc


@pytest.fixture
def dirs(tmp_path):
    (tmp_path / "config").mkdir()
    return tmp_path / "config", tmp_path / "delta"


def test_executable_and_corpus_present(conformance_dir):
    assert os.access(str(UCI), os.X_OK)
    assert len(CASES) == len(list((conformance_dir / "uci" / "cases").iterdir())) > 100


@pytest.mark.parametrize("case", CASES)
def test_case(conformance_dir, dirs, case):
    conf, delta = dirs
    d = conformance_dir / "uci" / "cases" / case
    (conf / "pkg").write_bytes((d / "input").read_bytes())
    # several commands per process (uci batch) keeps the corpus run short
    out = run(["batch"], stdin=b"show pkg\nexport pkg\n", conf=conf, delta=delta).stdout
    assert out == (d / "show").read_bytes() + (d / "export").read_bytes()
    assert run(["-X", "show", "pkg"], conf=conf, delta=delta).stdout == (d / "show_X").read_bytes()

    imported = conf.parent / "imported"
    imported.mkdir()
    run(["import", "pkg"], stdin=(d / "input").read_bytes(), conf=imported, delta=delta)
    assert (imported / "pkg").read_bytes() == (d / "canonical").read_bytes()

    run(["batch"], stdin=(d / "ops").read_bytes(), conf=conf, delta=delta)
    out = run(["batch"], stdin=b"changes pkg\ncommit pkg\nshow pkg\nchanges pkg\n", conf=conf, delta=delta).stdout
    assert out == (d / "ops.changes").read_bytes() + (d / "ops.show").read_bytes()
    assert (conf / "pkg").read_bytes() == (d / "ops.result").read_bytes()


@pytest.mark.parametrize("case", INVALID)
def test_invalid(conformance_dir, dirs, case):
    conf, delta = dirs
    d = conformance_dir / "uci" / "invalid" / case
    (conf / "pkg").write_bytes((d / "input").read_bytes())
    proc = run(["show", "pkg"], conf=conf, delta=delta, check_rc=1)
    assert proc.stderr == (d / "error").read_bytes()
    assert proc.stdout == b""


def test_get_set_add_rename_reorder_revert(dirs):
    conf, delta = dirs
    (conf / "net").write_bytes(b"config interface 'lan'\n\tlist dns '1.1.1.1'\n\tlist dns 'a b'\nconfig rule\n")
    assert run(["get", "net.lan"], conf=conf, delta=delta).stdout == b"interface\n"
    assert run(["get", "net.lan.dns"], conf=conf, delta=delta).stdout == b"1.1.1.1 'a b'\n"
    assert run(["-d", ",", "show", "net.lan.dns"], conf=conf, delta=delta).stdout == b"net.lan.dns='1.1.1.1','a b'\n"
    name = run(["add", "net", "rule"], conf=conf, delta=delta).stdout.decode().strip()
    assert name.startswith("cfg03")
    run(["set", "net.@rule[-1].target=ACCEPT"], conf=conf, delta=delta)
    run(["rename", "net.lan=home"], conf=conf, delta=delta)
    run(["reorder", "net.home=2"], conf=conf, delta=delta)
    assert (delta / "net").read_text() == ("+net.%s='rule'\nnet.%s.target='ACCEPT'\n@net.lan='home'\n^net.home='2'\n"
                                           % (name, name))
    run(["revert", "net.%s" % name], conf=conf, delta=delta)
    assert (delta / "net").read_text() == "@net.lan='home'\n^net.home='2'\n"
    assert run(["get", "net.home"], conf=conf, delta=delta).stdout == b"interface\n"
    # -P stages elsewhere and never commits
    run(["-P", str(conf.parent / "staged"), "set", "net.lan.proto=dhcp"], conf=conf)
    run(["-P", str(conf.parent / "staged"), "commit", "net"], conf=conf)
    assert b"proto" not in (conf / "net").read_bytes()
    # -p reads another delta dir too
    out = run(["-p", str(conf.parent / "staged"), "show", "net.home.proto"], conf=conf, delta=delta).stdout
    assert out == b"net.home.proto='dhcp'\n"


def test_errors_and_exit_codes(dirs):
    conf, delta = dirs
    (conf / "net").write_bytes(b"config interface 'lan'\n")
    proc = run(["get", "net.wan"], conf=conf, delta=delta, check_rc=1)
    assert proc.stderr == b"uci: Entry not found\n"
    assert run(["-q", "get", "net.wan"], conf=conf, delta=delta, check_rc=1).stderr == b""
    assert run(["add", "nope", "x"], conf=conf, delta=delta, check_rc=3).stderr == b"uci: Entry not found\n"
    assert run(["set", "net.wan.x=1"], conf=conf, delta=delta, check_rc=1).stderr == b"uci: Invalid argument\n"
    assert run(["frobnicate"], conf=conf, delta=delta, check_rc=255).stderr.startswith(b"Usage: ")
    assert not (delta / "net").exists()


def test_non_strict_skips_bad_lines(dirs):
    conf, delta = dirs
    (conf / "p").write_bytes(b"config a 'x'\n\tbogus line\n\toption k 'v'\n")
    proc = run(["-S", "show", "p"], conf=conf, delta=delta)
    assert proc.stdout == b"p.x=a\np.x.k='v'\n"
    assert proc.stderr == b"uci: Parse error (invalid command) at line 2, byte 1\n"


def test_import_merge_records_deltas(dirs):
    conf, delta = dirs
    (conf / "p").write_bytes(b"config a 'x'\n")
    run(["-m", "import", "p"], stdin=b"config a 'x'\n\toption k 'v'\n", conf=conf, delta=delta)
    assert (delta / "p").read_text() == "p.x='a'\np.x.k='v'\n"
    assert (conf / "p").read_bytes() == b"config a 'x'\n"
