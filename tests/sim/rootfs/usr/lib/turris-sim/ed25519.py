# SPDX-License-Identifier: GPL-3.0-or-later
"""Ed25519 (RFC 8032, PureEd25519 with SHA-512) in plain Python, for the router simulator.

usign signs and verifies with exactly this scheme, so the simulator's ``usign`` and
``opkg`` check real signatures. Speed is secondary: a verification takes a few
milliseconds. Not constant-time: for tests only, never for real secrets.
"""
import hashlib

P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

_GY = (4 * pow(5, P - 2, P)) % P


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


_GX = _recover_x(_GY, 0)
# Extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z.
G = (_GX, _GY, 1, _GX * _GY % P)
IDENTITY = (0, 1, 1, 0)


def _add(m, n):
    a = (m[1] - m[0]) * (n[1] - n[0]) % P
    b = (m[1] + m[0]) * (n[1] + n[0]) % P
    c = 2 * m[3] * n[3] * D % P
    d = 2 * m[2] * n[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, p):
    q = IDENTITY
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _equal(p, q):
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def _compress(p):
    zinv = pow(p[2], P - 2, P)
    x = p[0] * zinv % P
    y = p[1] * zinv % P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def _sha512_int(*parts):
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def _expand(seed):
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes, got %d" % len(seed))
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed):
    """The 32-byte public key of a 32-byte secret seed."""
    a, _prefix = _expand(seed)
    return _compress(_mul(a, G))


def sign(seed, message):
    """RFC 8032 signature (64 bytes) of ``message`` with the 32-byte ``seed``."""
    a, prefix = _expand(seed)
    pub = _compress(_mul(a, G))
    r = _sha512_int(prefix, message) % L
    rs = _compress(_mul(r, G))
    k = _sha512_int(rs, pub, message) % L
    s = (r + k * a) % L
    return rs + int.to_bytes(s, 32, "little")


def verify(public, message, signature):
    """True when ``signature`` is a valid RFC 8032 signature of ``message`` by ``public``."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    if a is None:
        return False
    r = _decompress(signature[:32])
    if r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    k = _sha512_int(signature[:32], public, message) % L
    return _equal(_mul(s, G), _add(r, _mul(k, a)))
