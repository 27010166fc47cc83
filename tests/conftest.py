"""Test-wide setup: make ``ansible_collections.turris.containers`` importable and
locate the golden conformance corpora, kept in the repository under ``tests/conformance``
(byte-identical copies of what the real upstream tools produced; see its README)."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / ".build" / "collections"
_link = COLLECTIONS / "ansible_collections" / "turris" / "containers"
if not _link.exists():
    _link.parent.mkdir(parents=True, exist_ok=True)
    _link.symlink_to(ROOT)
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

# The one place every test finds the golden files. Test modules that parametrize over the
# cases at import time read these constants; the rest ask for the ``conformance_dir`` fixture.
CONFORMANCE = ROOT / "tests" / "conformance"
CORPORA = ("uci", "kconfig", "usign")


@pytest.fixture(scope="session")
def conformance_dir():
    missing = [c for c in CORPORA if not (CONFORMANCE / c).is_dir()]
    if missing:
        pytest.fail(f"conformance corpora {missing} missing under {CONFORMANCE}; they are part of the repository")
    return CONFORMANCE
