# SPDX-License-Identifier: GPL-3.0-or-later
"""The golden corpora are in the repository, complete and unedited.

A corpus that is missing must fail the run, not shrink a parametrized test to zero cases."""
import hashlib
import subprocess
import sys

from conftest import CONFORMANCE, CORPORA


def manifest():
    lines = (CONFORMANCE / "SHA256SUMS").read_text(encoding="ascii").splitlines()
    return {path: digest for digest, path in (line.split("  ", 1) for line in lines)}


def test_every_corpus_is_in_the_repository(conformance_dir):
    assert conformance_dir == CONFORMANCE
    listed = manifest()
    for corpus in CORPORA:
        assert any(p.startswith(corpus + "/") for p in listed), corpus
    # the case counts the parametrized tests iterate over
    assert sum(1 for p in listed if p.startswith("uci/cases/") and p.endswith("/input")) == 176
    assert sum(1 for p in listed if p.startswith("uci/invalid/") and p.endswith("/error")) == 7
    assert sum(1 for p in listed if p.startswith("kconfig/cases/") and p.endswith("/config")) == 19


def test_files_are_byte_identical_to_the_upstream_output(conformance_dir):
    listed = manifest()
    present = {str(p.relative_to(conformance_dir)) for p in conformance_dir.rglob("*")
               if p.is_file() and p.parent != conformance_dir}
    assert sorted(present - set(listed)) == [], "files not in SHA256SUMS"
    assert sorted(set(listed) - present) == [], "files missing"
    changed = [p for p, digest in sorted(listed.items())
               if hashlib.sha256((conformance_dir / p).read_bytes()).hexdigest() != digest]
    assert changed == []


def test_a_missing_corpus_fails_instead_of_skipping(tmp_path):
    """conftest.py itself, pointed at a directory without the corpora, in a pytest of its own."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text((CONFORMANCE.parent / "conftest.py").read_text())
    (tmp_path / "tests" / "test_reads.py").write_text("def test_reads(conformance_dir):\n    assert conformance_dir.is_dir()\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 error" in proc.stdout and "skipped" not in proc.stdout, proc.stdout
    assert "conformance corpora ['uci', 'kconfig', 'usign'] missing" in proc.stdout, proc.stdout
