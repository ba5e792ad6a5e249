"""A device checked against an identity (certified, not revoked, usable keys) and the
identity's certificates and revocations made (the encodings are in `signing`)."""

from __future__ import annotations

import base64
from collections.abc import Collection
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from videonet_cli.errors import CliError
from videonet_cli.i18n import N_
from videonet_cli.identity import signing
from videonet_cli.identity.model import SkippedDevice, TrustedDevice
from videonet_cli.transfer.said import said
from videonet_protocol import protocol
from videonet_protocol.keycheck import ed25519_problem, x25519_problem


def certify(
    identity: Ed25519PrivateKey,
    user_id: int,
    device_id: str,
    x25519: bytes,
    ed25519: bytes,
    label: str,
) -> str:
    """The base64 certificate of a device under this identity."""
    message = signing.certificate_message(user_id, device_id, x25519, ed25519, label)
    return base64.b64encode(signing.sign_blob(identity, message)).decode("ascii")


def revoke(
    identity: Ed25519PrivateKey, user_id: int, device_id: str, x25519: bytes, ed25519: bytes
) -> str:
    message = signing.revocation_message(user_id, device_id, x25519, ed25519)
    return base64.b64encode(signing.sign_blob(identity, message)).decode("ascii")


@dataclass(frozen=True)
class Checked:
    """One listed device checked against an identity."""

    device: TrustedDevice | None
    skipped: SkippedDevice | None
    revoked: bool = False


def check_device(
    info: protocol.DeviceKeyInfo,
    user_id: int,
    username: str,
    identity_public: bytes,
    trust: str,
    known_revoked: Collection[str] = (),
) -> Checked:
    """A listed device as trusted (certified, not revoked, usable keys) or skipped, with why."""
    device_id = str(info.get("device_id", ""))
    label = str(info.get("label", ""))

    def skip(reason: str, revoked: bool = False) -> Checked:
        return Checked(None, SkippedDevice(username, device_id, label, reason), revoked)

    x25519 = protocol.decode_public_key(str(info.get("public_key", "")))
    ed25519 = protocol.decode_public_key(str(info.get("signing_key", "")))
    if x25519 is None or ed25519 is None:
        return skip(said(N_("unusable key (not a pair of 32-byte public keys)")))
    problem = x25519_problem(x25519) or ed25519_problem(ed25519)
    if problem is not None:
        return skip(said(N_("unusable key ({problem})"), problem=problem))
    if device_id in known_revoked:
        return skip(said(N_("revoked")), revoked=True)
    revocation = protocol.decode_blob(info.get("revocation"))
    if revocation is not None and signing.verify_blob(
        identity_public,
        signing.revocation_message(user_id, device_id, x25519, ed25519),
        revocation,
    ):
        return skip(said(N_("revoked")), revoked=True)
    certificate = protocol.decode_blob(info.get("certificate"))
    message = signing.certificate_message(user_id, device_id, x25519, ed25519, label)
    if not signing.verify_blob(identity_public, message, certificate):
        return skip(said(N_("not certified by {user}'s identity"), user=username))
    fingerprint = protocol.device_fingerprint(x25519, ed25519)
    return Checked(
        TrustedDevice(user_id, username, device_id, label, x25519, ed25519, trust, fingerprint),
        None,
    )


def listed_device(listed: protocol.UserKeys, device_id: str) -> protocol.DeviceKeyInfo:
    """One device of a listing, or a one-line error when the daemon left it out."""
    found = next((d for d in listed["devices"] if d["device_id"] == device_id), None)
    if found is None:
        raise CliError(
            said(
                N_("the daemon did not list device {device} of {user}"),
                device=device_id,
                user=listed["username"],
            )
        )
    return found


def decode_identity(listed: protocol.UserKeys) -> bytes | None:
    raw = protocol.decode_public_key(str(listed.get("identity_key") or ""))
    if raw is None or ed25519_problem(raw) is not None:
        return None
    return raw
