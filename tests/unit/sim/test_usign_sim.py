# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulator's usign (pure-Python Ed25519) and opkg-key against the usign golden vectors."""
import os
import shutil
import sys
import subprocess
from pathlib import Path

import pytest

ROOTFS = Path(__file__).resolve().parents[2] / "sim" / "rootfs"
USIGN = str(ROOTFS / "usr" / "bin" / "usign")
OPKG_KEY = str(ROOTFS / "usr" / "sbin" / "opkg-key")
FPS = {"feedkey": "b8b13ca0718d2efe", "otherkey": "2eb11a1d89f3b4b6", "zeroled": "041671a5f2b9e4f5"}


def usign(*args, cwd=None):
    return subprocess.run([USIGN] + list(args), capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


@pytest.fixture
def vectors(conformance_dir, tmp_path):
    # copies: the golden directory is read-only and usign may write beside its inputs
    dst = tmp_path / "usign"
    shutil.copytree(conformance_dir / "usign", dst)
    return dst


@pytest.mark.parametrize("name", sorted(FPS))
@pytest.mark.parametrize("ext,flag", [(".pub", "-p"), (".sec", "-s")])
def test_fingerprint(vectors, name, ext, flag):
    res = usign("-F", flag, str(vectors / (name + ext)))
    assert res.returncode == 0 and res.stdout == FPS[name] + "\n"


def test_verify_accepts_the_signed_index(vectors):
    res = usign("-V", "-m", "Packages", "-p", "feedkey.pub", "-x", "Packages.sig", cwd=vectors)
    assert res.returncode == 0 and res.stderr == "OK\n"


def test_verify_rejects_tampered_index(vectors):
    res = usign("-V", "-m", "Packages.tampered", "-p", "feedkey.pub", "-x", "Packages.sig", cwd=vectors)
    assert res.returncode == 1 and "verification failed" in res.stderr


def test_verify_rejects_other_key(vectors):
    res = usign("-V", "-m", "Packages", "-p", "otherkey.pub", "-x", "Packages.sig", cwd=vectors)
    assert res.returncode == 1


@pytest.mark.parametrize("msg", ["Packages", "Packages.zeroled"])
def test_key_directory_accepts_both_indexes(vectors, msg):
    res = usign("-V", "-q", "-m", msg, "-P", "keys", "-x", msg + ".sig", cwd=vectors)
    assert res.returncode == 0 and res.stderr == ""


def test_key_directory_without_the_key_rejects(vectors, tmp_path):
    keys = tmp_path / "otherkeys"
    keys.mkdir()
    shutil.copy(vectors / "otherkey.pub", keys / FPS["otherkey"])
    res = usign("-V", "-m", "Packages", "-P", str(keys), "-x", "Packages.sig", cwd=vectors)
    assert res.returncode == 1


@pytest.mark.parametrize("msg,key", [("Packages", "feedkey"), ("Packages.zeroled", "zeroled")])
def test_signing_reproduces_the_golden_signature(vectors, tmp_path, msg, key):
    # Ed25519 is deterministic: the same key and message give usign's very bytes
    out = tmp_path / "out.sig"
    res = usign("-S", "-m", msg, "-s", key + ".sec", "-x", str(out), cwd=vectors)
    assert res.returncode == 0, res.stderr
    assert out.read_text() == (vectors / (msg + ".sig")).read_text()


def test_generated_key_signs_and_verifies(tmp_path):
    assert usign("-G", "-s", "k.sec", "-p", "k.pub", "-c", "test key", cwd=tmp_path).returncode == 0
    (tmp_path / "msg").write_bytes(b"hello\n")
    assert usign("-S", "-m", "msg", "-s", "k.sec", cwd=tmp_path).returncode == 0
    assert usign("-V", "-m", "msg", "-p", "k.pub", cwd=tmp_path).returncode == 0
    (tmp_path / "msg").write_bytes(b"hellO\n")
    assert usign("-V", "-m", "msg", "-p", "k.pub", cwd=tmp_path).returncode == 1
    fp_pub = usign("-F", "-p", "k.pub", cwd=tmp_path).stdout
    assert fp_pub == usign("-F", "-s", "k.sec", cwd=tmp_path).stdout
    assert (tmp_path / "k.pub").read_text().startswith("untrusted comment: test key\n")


def test_usage_error_exit_1():
    res = usign("-Z")
    assert res.returncode == 1 and res.stderr.startswith("Usage: usign")


def _opkg_key(args, root):
    env = dict(os.environ, IPKG_INSTROOT=str(root), PATH="%s:%s" % (ROOTFS / "usr" / "bin", os.environ["PATH"]))
    return subprocess.run(["sh", OPKG_KEY] + args, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_opkg_key_add_lays_out_keys_like_the_golden_dir(vectors, tmp_path):
    root = tmp_path / "root"
    for name in ("feedkey", "zeroled"):
        assert _opkg_key(["add", str(vectors / (name + ".pub"))], root).returncode == 0
    made = root / "etc" / "opkg" / "keys"
    assert sorted(p.name for p in made.iterdir()) == sorted(p.name for p in (vectors / "keys").iterdir())
    for p in made.iterdir():
        assert p.read_bytes() == (vectors / "keys" / p.name).read_bytes()
    assert _opkg_key(["remove", str(vectors / "zeroled.pub")], root).returncode == 0
    assert sorted(p.name for p in made.iterdir()) == [FPS["feedkey"]]


def test_opkg_key_verify_reads_gzip_lists(vectors, tmp_path):
    import gzip
    root = tmp_path / "root"
    _opkg_key(["add", str(vectors / "feedkey.pub")], root)
    lst = tmp_path / "list"
    lst.write_bytes(gzip.compress((vectors / "Packages").read_bytes()))
    assert _opkg_key(["verify", str(vectors / "Packages.sig"), str(lst)], root).returncode == 0
    lst.write_bytes(gzip.compress((vectors / "Packages.tampered").read_bytes()))
    assert _opkg_key(["verify", str(vectors / "Packages.sig"), str(lst)], root).returncode == 1


def _usign_sim():
    """The simulator's usign library, imported in-process from the repository."""
    sys.path.insert(0, str(ROOTFS / "usr" / "lib" / "turris-sim"))
    try:
        import usign_sim  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.pop(0)
    return usign_sim


@pytest.mark.parametrize("sig,fp", [("Packages.sig", "b8b13ca0718d2efe"), ("Packages.zeroled.sig", "041671a5f2b9e4f5")])
def test_signature_names_its_key(conformance_dir, sig, fp):
    parsed = _usign_sim().parse_signature((conformance_dir / "usign" / sig).read_text())
    assert parsed.fingerprint == fp
    assert parsed.comment == "signed by key %s" % fp
    assert len(parsed.signature) == 64


@pytest.mark.parametrize("name,message", [("Packages.tampered", "not a usign file"),
                                          ("feedkey.pub", "decodes to a public key")])
def test_what_is_not_a_signature_is_refused(conformance_dir, name, message):
    sim = _usign_sim()
    with pytest.raises(sim._usign.UsignError, match=message):  # pylint: disable=protected-access
        sim.parse_signature((conformance_dir / "usign" / name).read_text())
