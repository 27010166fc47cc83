"""Test-wide setup: make ``ansible_collections.turris.containers`` importable and
locate the golden conformance corpora (``../shared/conformance`` beside the project)."""
import os
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

CONFORMANCE = Path(os.environ.get("TURRIS_CONFORMANCE_DIR", ROOT.parent / "shared" / "conformance"))


@pytest.fixture(scope="session")
def conformance_dir():
    if not CONFORMANCE.is_dir():
        pytest.fail(f"conformance corpora not found at {CONFORMANCE}; set TURRIS_CONFORMANCE_DIR")
    return CONFORMANCE
