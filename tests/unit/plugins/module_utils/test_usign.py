# SPDX-License-Identifier: GPL-3.0-or-later
"""_usign: key and signature files against the usign golden vectors."""
import base64

import pytest

from ansible_collections.turris.containers.plugins.module_utils import _usign

KEYS = {"feedkey": "b8b13ca0718d2efe", "otherkey": "2eb11a1d89f3b4b6", "zeroled": "041671a5f2b9e4f5"}


def _text(conformance_dir, name):
    return (conformance_dir / "usign" / name).read_text()


@pytest.mark.parametrize("name", sorted(KEYS))
def test_public_key_fingerprint_as_usign_F(conformance_dir, name):
    key = _usign.parse_public_key(_text(conformance_dir, name + ".pub"))
    # the README's fingerprints come from `usign -F`
    assert key.fingerprint == KEYS[name]
    assert len(key.key) == 32


def test_fingerprint_zero_padded_to_16_digits(conformance_dir):
    key = _usign.parse_public_key(_text(conformance_dir, "zeroled.pub"))
    assert key.fingerprint.startswith("0") and len(key.fingerprint) == 16


def test_keys_dir_names_are_fingerprints(conformance_dir):
    keys = sorted((conformance_dir / "usign" / "keys").iterdir())
    assert keys
    for path in keys:
        assert _usign.parse_public_key(path.read_text()).fingerprint == path.name


@pytest.mark.parametrize("name", sorted(KEYS))
def test_format_reproduces_the_pub_file(conformance_dir, name):
    text = _text(conformance_dir, name + ".pub")
    assert _usign.format_public_key(_usign.parse_public_key(text)) == text


def test_base64_line_alone_is_a_key(conformance_dir):
    line = _text(conformance_dir, "feedkey.pub").splitlines()[1]
    key = _usign.parse_public_key(line)
    assert key.fingerprint == KEYS["feedkey"] and key.comment is None
    assert _usign.format_public_key(key).splitlines()[1] == line
    assert _usign.format_public_key(key).startswith("untrusted comment: public key b8b13ca0718d2efe\n")


def test_same_key_ignores_comments(conformance_dir):
    text = _text(conformance_dir, "feedkey.pub")
    assert _usign.same_key(text, "untrusted comment: other words\n" + text.splitlines()[1] + "\n")
    assert not _usign.same_key(text, _text(conformance_dir, "otherkey.pub"))


@pytest.mark.parametrize("name,message", [
    ("feedkey.sec", "secret key"),
    ("Packages.sig", "signature"),
])
def test_other_usign_files_are_not_public_keys(conformance_dir, name, message):
    with pytest.raises(_usign.UsignError, match=message):
        _usign.parse_public_key(_text(conformance_dir, name))


@pytest.mark.parametrize("text,message", [
    ("", "0 line"),
    ("hello world", "not base64"),
    ("untrusted comment: x\n" + base64.b64encode(b"Ed" + b"\0" * 30).decode(), "32 bytes of data"),
    ("untrusted comment: x\n" + base64.b64encode(b"Xy" + b"\0" * 40).decode(), "algorithm"),
    ("a\nb\nc", "3 line"),
    ("not a comment\nRWS4sTygcY0u/mVZD4TbjX7stToNqtNcEEblYUCSPOoNpKmEcemw36qV", "untrusted comment"),
])
def test_garbage_is_refused_with_a_reason(text, message):
    with pytest.raises(_usign.UsignError, match=message):
        _usign.parse_public_key(text)
