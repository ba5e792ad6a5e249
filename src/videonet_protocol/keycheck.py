"""Is a public key usable? The rules both sides apply: the daemon refuses a key that fails them
(400 with the reason), a client skips a device whose key fails them (a daemon may still lie).

Standard library only, like the rest of this package. X25519: the 32-byte u-coordinate must be
canonical (below p = 2^255 - 19, high bit clear) and not one of the low-order points, whose
shared secret with any key is known in advance (all zero), as libsodium's blocklist says.
Ed25519: the 32 bytes must decode to a point of the curve (RFC 8032 5.1.3) that is not of small
order (an all-purpose "signature" key: a small-order key verifies forged signatures under some
verifiers).
"""

from __future__ import annotations

from typing import Final

from videonet_protocol.i18n import N_

_P: Final = 2**255 - 19
_D: Final = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1: Final = pow(2, (_P - 1) // 4, _P)

# The u-coordinates of Curve25519's points of order 1, 2, 4 and 8 (canonical forms; the
# non-canonical ones are refused as non-canonical before this list is consulted).
_X25519_LOW_ORDER: Final = frozenset(
    {
        0,
        1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
        _P - 1,
    }
)


def x25519_problem(raw: bytes) -> str | None:
    """Why this X25519 public key cannot be used, or None when it can."""
    if len(raw) != 32:
        return f"an X25519 public key is 32 bytes, not {len(raw)}"
    u = int.from_bytes(raw, "little")
    if u >= _P:
        return N_("the X25519 public key is not in canonical form")
    if u in _X25519_LOW_ORDER:
        return N_("the X25519 public key is a low-order point (every shared secret would be known)")
    return None


def _decode_ed25519(raw: bytes) -> tuple[int, int] | None:
    """The affine point (x, y) an encoded Ed25519 key names, or None (RFC 8032 5.1.3)."""
    value = int.from_bytes(raw, "little")
    sign = value >> 255
    y = value & ((1 << 255) - 1)
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    if (v * x * x) % _P == (-u) % _P:
        x = (x * _SQRT_M1) % _P
    elif (v * x * x) % _P != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _times_eight_is_neutral(point: tuple[int, int]) -> bool:
    """Whether [8]P is the neutral element, i.e. P's order divides 8: three doublings in
    projective coordinates (dbl-2008-hwcd, a = -1), with no inversion on the way (each affine
    doubling took two: the check cost 1.7 ms of CPU per key, 9 keys per send)."""
    x, y, z = point[0], point[1], 1
    for _ in range(3):
        b = (x + y) * (x + y) % _P
        c = x * x % _P
        d = y * y % _P
        f = (d - c) % _P  # E + D, with E = aC = -C
        j = (f - 2 * z * z) % _P
        x, y, z = (b - c - d) * j % _P, f * (-c - d) % _P, f * j % _P
    return x == 0 and y == z  # (0 : Z : Z); Z is never 0, d not being a square


def ed25519_problem(raw: bytes) -> str | None:
    """Why this Ed25519 public key cannot be used, or None when it can."""
    if len(raw) != 32:
        return f"an Ed25519 public key is 32 bytes, not {len(raw)}"
    point = _decode_ed25519(raw)
    if point is None:
        return N_("the Ed25519 public key is not a point of the curve")
    if _times_eight_is_neutral(point):
        return N_("the Ed25519 public key is a small-order point")
    return None
