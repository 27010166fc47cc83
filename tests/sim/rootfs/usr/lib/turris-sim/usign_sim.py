# SPDX-License-Identifier: GPL-3.0-or-later
"""OpenWrt's ``usign`` for the router simulator: same options, files, output and exit codes.

Keys and signatures are real Ed25519 (``ed25519.py``); file parsing is the collection's
own ``_usign`` helper, so the module and the simulator agree on one format. Signature files
only the simulator reads (:func:`parse_signature`), so that part lives here.
"""
import base64
import binascii
import collections
import hashlib
import os
import sys

import simpath  # noqa: F401  pylint: disable=unused-import
import ed25519
import _usign  # pylint: disable=wrong-import-order

Signature = collections.namedtuple("Signature", ["comment", "fingerprint", "signature"])


def parse_signature(text):
    """Parse a usign signature file (``Packages.sig``) into a Signature."""
    comment, payload = _usign._split(text)  # pylint: disable=protected-access
    raw = _usign._decode(payload)  # pylint: disable=protected-access
    if len(raw) != _usign.SIGNATURE_LEN:
        raise _usign.UsignError("not a usign signature: it decodes to a %s, a signature is %d bytes"
                                % (_usign._kind(raw), _usign.SIGNATURE_LEN))  # pylint: disable=protected-access
    if raw[:2] != _usign.PKALG:
        raise _usign.UsignError("not a usign signature: algorithm %r, only 'Ed' (Ed25519) exists" % raw[:2])
    return Signature(comment, _usign.fingerprint_hex(raw[2:10]), raw[10:])


USAGE = """Usage: usign <command> <options>
Commands:
  -V:			verify (needs at least -m and -p|-P)
  -S:			sign (needs at least -m and -s)
  -F:			print key fingerprint of public/secret key or signature
  -G:			generate a new keypair (needs at least -p and -s)
Options:
  -c <comment>: 	add comment to keys
  -m <file>:		message file
  -p <file>:		public key file (verify/fingerprint only)
  -P <path>:		public key directory (verify only)
  -q:			quiet (do not print verification result, use return code only)
  -s <file>:		secret key file (sign/fingerprint only)
  -x <file>:		signature file (defaults to <message file>.sig)
"""


class SecretKey:
    """A usign secret key: ``Ed`` ``BK`` rounds salt checksum fingerprint seed+public."""

    def __init__(self, comment, kdfrounds, salt, checksum, fingerprint, secret):
        self.comment = comment
        self.kdfrounds = kdfrounds
        self.salt = salt
        self.checksum = checksum
        self.fingerprint = fingerprint
        self.secret = secret

    @property
    def fingerprint_hex(self):
        return _usign.fingerprint_hex(self.fingerprint)

    @property
    def seed(self):
        return self.secret[:32]

    @property
    def public(self):
        return self.secret[32:]

    def public_key(self):
        return _usign.PublicKey(self.comment, self.fingerprint_hex, self.public)

    def packed(self):
        return (b"Ed" + b"BK" + self.kdfrounds.to_bytes(4, "big") + self.salt + self.checksum
                + self.fingerprint + self.secret)


def parse_secret_key(text):
    comment, payload = _usign._split(text)  # pylint: disable=protected-access
    raw = _usign._decode(payload)  # pylint: disable=protected-access
    if len(raw) != _usign.SECRET_KEY_LEN or raw[:4] != b"EdBK":
        raise _usign.UsignError("not a usign secret key")
    key = SecretKey(comment, int.from_bytes(raw[4:8], "big"), raw[8:24], raw[24:32], raw[32:40], raw[40:104])
    if key.kdfrounds:
        raise _usign.UsignError("secret key is protected by a passphrase: not supported here")
    if hashlib.sha512(key.secret).digest()[:8] != key.checksum:
        raise _usign.UsignError("invalid secret key checksum")
    return key


def generate(comment=None, seed=None, fingerprint=None):
    """A new key pair (SecretKey); ``seed``/``fingerprint`` only to make fixed test keys."""
    seed = seed if seed is not None else os.urandom(32)
    fingerprint = fingerprint if fingerprint is not None else os.urandom(8)
    secret = seed + ed25519.public_key(seed)
    checksum = hashlib.sha512(secret).digest()[:8]
    return SecretKey(comment, 0, os.urandom(16), checksum, fingerprint, secret)


def format_secret_key(key):
    comment = key.comment if key.comment is not None else "private key %s" % key.fingerprint_hex
    return "untrusted comment: %s\n%s\n" % (comment, base64.b64encode(key.packed()).decode("ascii"))


def format_public_key(key):
    comment = key.comment if key.comment is not None else "public key %s" % key.fingerprint_hex
    return _usign.format_public_key(key.public_key(), comment)


def sign(key, message):
    """Signature file text of ``message`` (bytes) by SecretKey ``key``, as ``usign -S`` writes it."""
    sig = ed25519.sign(key.seed, message)
    return "untrusted comment: signed by key %s\n%s\n" % (
        key.fingerprint_hex, base64.b64encode(b"Ed" + key.fingerprint + sig).decode("ascii"))


def verify(public_text, message, signature_text):
    """True when the signature file text verifies ``message`` with the public key text."""
    pub = _usign.parse_public_key(public_text)
    sig = parse_signature(signature_text)
    if pub.fingerprint != sig.fingerprint:
        return False
    return ed25519.verify(pub.key, message, sig.signature)


def verify_with_dir(keys_dir, message, signature_text):
    """``usign -V -P DIR``: the key is DIR/<signature's fingerprint>. (ok, reason)."""
    try:
        sig = parse_signature(signature_text)
    except _usign.UsignError:
        return False, "Failed to decode signature"
    path = os.path.join(keys_dir, sig.fingerprint)
    try:
        with open(path, "rb") as f:
            pub = _usign.parse_public_key(f.read())
    except (OSError, _usign.UsignError):
        return False, "Failed to decode public key"
    if pub.fingerprint != sig.fingerprint or not ed25519.verify(pub.key, message, sig.signature):
        return False, "verification failed"
    return True, "OK"


def _read(path):
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _write(path, text):
    if path == "-":
        sys.stdout.write(text)
        return
    with open(path, "w") as f:
        f.write(text)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = None
    opts = {}
    quiet = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-V", "-S", "-F", "-G"):
            if cmd is not None:
                sys.stderr.write(USAGE)
                return 1
            cmd = arg
        elif arg == "-q":
            quiet = True
        elif arg in ("-c", "-m", "-p", "-P", "-s", "-x"):
            if i + 1 >= len(argv):
                sys.stderr.write(USAGE)
                return 1
            opts[arg] = argv[i + 1]
            i += 1
        else:
            sys.stderr.write(USAGE)
            return 1
        i += 1

    if cmd == "-V":
        return _cmd_verify(opts, quiet)
    if cmd == "-S":
        return _cmd_sign(opts)
    if cmd == "-F":
        return _cmd_fingerprint(opts)
    if cmd == "-G":
        return _cmd_generate(opts)
    sys.stderr.write(USAGE)
    return 1


def _cmd_verify(opts, quiet):
    msgfile = opts.get("-m")
    if not msgfile or not (opts.get("-p") or opts.get("-P")):
        sys.stderr.write(USAGE)
        return 1
    sigfile = opts.get("-x") or msgfile + ".sig"
    try:
        sig_text = _read(sigfile)
    except OSError:
        sys.stderr.write("Failed to decode signature\n")
        return 1
    try:
        message = _read(msgfile)
    except OSError:
        sys.stderr.write("Cannot open message file\n")
        return 1
    if opts.get("-p"):
        try:
            sig = parse_signature(sig_text)
        except _usign.UsignError:
            sys.stderr.write("Failed to decode signature\n")
            return 1
        try:
            pub = _usign.parse_public_key(_read(opts["-p"]))
        except (OSError, _usign.UsignError):
            sys.stderr.write("Failed to decode public key\n")
            return 1
        ok = pub.fingerprint == sig.fingerprint and ed25519.verify(pub.key, message, sig.signature)
        reason = "OK" if ok else "verification failed"
    else:
        ok, reason = verify_with_dir(opts["-P"], message, sig_text)
    if not ok:
        if not quiet or reason != "verification failed":
            sys.stderr.write(reason + "\n")
        return 1
    if not quiet:
        sys.stderr.write("OK\n")
    return 0


def _cmd_sign(opts):
    if not opts.get("-m") or not opts.get("-s"):
        sys.stderr.write(USAGE)
        return 1
    try:
        key = parse_secret_key(_read(opts["-s"]))
    except (OSError, _usign.UsignError):
        sys.stderr.write("Failed to decode secret key\n")
        return 1
    try:
        message = _read(opts["-m"])
    except OSError:
        sys.stderr.write("Cannot open message file\n")
        return 1
    _write(opts.get("-x") or opts["-m"] + ".sig", sign(key, message))
    return 0


def _cmd_fingerprint(opts):
    try:
        if opts.get("-s"):
            fp = parse_secret_key(_read(opts["-s"])).fingerprint_hex
        elif opts.get("-p"):
            fp = _usign.parse_public_key(_read(opts["-p"])).fingerprint
        elif opts.get("-x"):
            fp = parse_signature(_read(opts["-x"])).fingerprint
        else:
            sys.stderr.write(USAGE)
            return 1
    except (OSError, _usign.UsignError, binascii.Error):
        return 1
    sys.stdout.write(fp + "\n")
    return 0


def _cmd_generate(opts):
    if not opts.get("-s") or not opts.get("-p"):
        sys.stderr.write(USAGE)
        return 1
    key = generate(opts.get("-c"))
    _write(opts["-s"], format_secret_key(key))
    _write(opts["-p"], format_public_key(key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
