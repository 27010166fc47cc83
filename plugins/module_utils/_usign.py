# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) turris.containers contributors

# This module_utils is PRIVATE to the turris.containers collection: it may change
# or go away at any time, without notice. Do not use it from other collections.

"""usign (OpenWrt's signify) key and signature files: parsing and fingerprints.

No cryptography here: a module only needs to recognise a public key, name it by its
fingerprint the way ``usign -F`` and ``opkg-key add`` do, and write it back. (Reading
signatures is the simulator's business: ``tests/sim/rootfs/usr/lib/turris-sim/usign_sim.py``.)

File layout (usign ``main.c``): line 1 ``untrusted comment: ...``, line 2 the base64 of
a packed struct. Public key: ``Ed`` + 8-byte fingerprint + 32-byte Ed25519 key (42 bytes).
Signature: ``Ed`` + fingerprint + 64-byte signature (74 bytes). Secret key: ``Ed`` +
``BK`` + 4-byte KDF rounds + 16-byte salt + 8-byte checksum + fingerprint + 64-byte
secret (104 bytes). The fingerprint prints as ``%016`` PRIx64 of its big-endian value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import collections

COMMENT_PREFIX = "untrusted comment: "
PKALG = b"Ed"
PUBLIC_KEY_LEN = 42
SIGNATURE_LEN = 74
SECRET_KEY_LEN = 104

PublicKey = collections.namedtuple("PublicKey", ["comment", "fingerprint", "key"])


class UsignError(ValueError):
    """Text that is not the usign file it was expected to be."""


def fingerprint_hex(raw):
    """Fingerprint bytes (8) as ``usign -F`` prints them: 16 lowercase hex digits."""
    if len(raw) != 8:
        raise UsignError("a usign fingerprint is 8 bytes, got %d" % len(raw))
    return "%016x" % int(binascii.hexlify(raw), 16)


def _split(text):
    """(comment or None, base64 payload line) of a usign file's text."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise UsignError("not a usign file: it is not ASCII text")
    lines = [line.strip() for line in text.strip().splitlines()]
    lines = [line for line in lines if line]
    if len(lines) == 1:
        return None, lines[0]
    if len(lines) == 2 and lines[0].startswith(COMMENT_PREFIX.rstrip()):
        return lines[0][len(COMMENT_PREFIX):].strip(), lines[1]
    raise UsignError(
        "not a usign file: expected a line 'untrusted comment: ...' and a line of base64, got %d line(s)"
        % len(lines))


def _decode(payload):
    try:
        return base64.b64decode(payload.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        # the payload is not shown: it may be a secret key, or any file given by mistake
        raise UsignError("not a usign file: its last line is not base64")


def _kind(raw):
    if len(raw) == PUBLIC_KEY_LEN:
        return "public key"
    if len(raw) == SIGNATURE_LEN:
        return "signature"
    if len(raw) == SECRET_KEY_LEN:
        return "secret key"
    return "%d bytes of data" % len(raw)


def parse_public_key(text):
    """Parse a usign public key (file text, or only its base64 line) into a PublicKey."""
    comment, payload = _split(text)
    raw = _decode(payload)
    if len(raw) != PUBLIC_KEY_LEN:
        hint = ""
        if len(raw) == SECRET_KEY_LEN:
            hint = " (never hand out the secret key: give the .pub file written by 'usign -G -p')"
        raise UsignError("not a usign public key: it decodes to a %s, a public key is %d bytes%s"
                         % (_kind(raw), PUBLIC_KEY_LEN, hint))
    if raw[:2] != PKALG:
        raise UsignError("not a usign public key: algorithm %r, only 'Ed' (Ed25519) exists" % raw[:2])
    return PublicKey(comment, fingerprint_hex(raw[2:10]), raw[10:])


def public_key_bytes(key):
    """The 42 packed bytes of a PublicKey, as base64-decoded from its file."""
    return PKALG + binascii.unhexlify(key.fingerprint) + key.key


def format_public_key(key, comment=None):
    """File text of a public key, as ``usign -G`` writes it (two lines, final newline)."""
    if comment is None:
        comment = key.comment if key.comment is not None else "public key %s" % key.fingerprint
    comment = " ".join(comment.split())
    return "%s%s\n%s\n" % (COMMENT_PREFIX, comment,
                           base64.b64encode(public_key_bytes(key)).decode("ascii"))


def same_key(text_a, text_b):
    """True when two public key texts carry the same key (comments aside)."""
    try:
        a = parse_public_key(text_a)
        b = parse_public_key(text_b)
    except UsignError:
        return False
    return a.fingerprint == b.fingerprint and a.key == b.key
