"""The cores of `videonet devices`: this account's devices listed and checked against its
identity, one renamed (re-certified) or removed (a signed revocation), the identity restored
from its recovery key. Linking a new device is in `identity.linking`."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from videonet_cli.api import Api
from videonet_cli.errors import CliError, KeyChangedError, NotFoundError, NotLinkedError, UsageError
from videonet_cli.i18n import _
from videonet_cli.identity import account as accounts
from videonet_cli.identity import device as device_keys
from videonet_cli.identity import signing, trust
from videonet_cli.identity.core import take_recovery_key
from videonet_cli.identity.pins import OWN
from videonet_protocol import protocol

CERTIFIED = "certified"
REVOKED = "revoked"
UNCERTIFIED = "not certified"
MIN_ID_PREFIX = 4


@dataclass(frozen=True)
class DeviceRow:
    device_id: str
    label: str
    status: str  # CERTIFIED | REVOKED | UNCERTIFIED (or another one-line reason)
    fingerprint: str
    created_at: str
    this_device: bool


@dataclass(frozen=True)
class MyDevices:
    username: str
    device_id: str  # this device
    fingerprint: str  # this device's keys
    identity_fingerprint: str
    holds_identity: bool  # this device can certify and revoke
    devices: list[DeviceRow]
    recovery_key: str | None  # shown once, after the identity was made


def _rows(listed: protocol.UserKeys, identity: bytes, this_id: str) -> list[DeviceRow]:
    rows = []
    for info in listed["devices"]:
        checked = trust.check_device(info, listed["user_id"], listed["username"], identity, OWN)
        if checked.device is not None:
            status, fingerprint = CERTIFIED, checked.device.fingerprint
        else:
            assert checked.skipped is not None
            status = REVOKED if checked.revoked else checked.skipped.reason
            fingerprint = ""
        rows.append(
            DeviceRow(
                info["device_id"],
                info["label"],
                status,
                fingerprint,
                info["created_at"],
                info["device_id"] == this_id,
            )
        )
    return rows


async def my_devices(api: Api) -> MyDevices:
    me = await trust.this_device(api)
    account = trust.own_account(me)
    listed = await api.keys.mine()
    return MyDevices(
        me.username,
        me.device_id,
        me.fingerprint,
        trust.identity_fingerprint(account.identity_public),
        account.identity is not None,
        _rows(listed, account.identity_public, me.device_id),
        take_recovery_key(me),
    )


def _row_of(listed: protocol.UserKeys, identity: bytes, this_id: str, device_id: str) -> DeviceRow:
    trust.listed_device(listed, device_id)  # a one-line error when the daemon left it out
    return next(r for r in _rows(listed, identity, this_id) if r.device_id == device_id)


def find_device(listed: protocol.UserKeys, ref: str) -> protocol.DeviceKeyInfo:
    """One of the listed devices by its id, the start of its id, or its label (when unique)."""
    exact = [d for d in listed["devices"] if d["device_id"] == ref]
    if exact:
        return exact[0]
    by_prefix = (
        [d for d in listed["devices"] if d["device_id"].startswith(ref)]
        if len(ref) >= MIN_ID_PREFIX
        else []
    )
    by_label = [d for d in listed["devices"] if d["label"] == ref]
    matches = by_prefix or by_label
    if not matches:
        raise NotFoundError(
            _("you have no device {device} (see `videonet devices`)").format(device=repr(ref))
        )
    if len(matches) > 1:
        ids = ", ".join(trust.short_id(d["device_id"]) for d in matches)
        raise UsageError(
            _("{device} names several devices ({ids}): give more of the id").format(
                device=repr(ref), ids=ids
            )
        )
    return matches[0]


async def _holder(api: Api) -> tuple[trust.ThisDevice, accounts.Account, protocol.UserKeys]:
    me = await trust.this_device(api)
    account = trust.own_account(me)
    if account.identity is None:
        raise NotLinkedError(
            _(
                "this device does not hold your identity: run this on the device where you made "
                "it, or restore it here with `videonet devices restore`"
            )
        )
    return me, account, await api.keys.mine()


async def rename(api: Api, ref: str | None, label: str) -> DeviceRow:
    """Give a device (default: this one) a new label, certified anew (the label is signed)."""
    label = label.strip()
    if not label or len(label) > protocol.DEVICE_LABEL_MAX_CHARS or not label.isprintable():
        raise UsageError(
            _("a device label is 1-{limit} printable characters").format(
                limit=protocol.DEVICE_LABEL_MAX_CHARS
            )
        )
    me, account, listed = await _holder(api)
    info = find_device(listed, ref) if ref else find_device(listed, me.device_id)
    x25519 = protocol.decode_public_key(info["public_key"])
    ed25519 = protocol.decode_public_key(info["signing_key"])
    if x25519 is None or ed25519 is None:
        raise CliError(
            _("device {device} has no usable keys on the daemon").format(device=info["device_id"])
        )
    assert account.identity is not None
    certificate = trust.certify(
        account.identity, account.user_id, info["device_id"], x25519, ed25519, label
    )
    await api.keys.update(info["device_id"], {"certificate": certificate, "label": label})
    return _row_of(await api.keys.mine(), account.identity_public, me.device_id, info["device_id"])


THIS_DEVICE = "this"


async def remove_this(api: Api) -> DeviceRow:
    """Take this device off the account and forget the account's identity here (what a CI
    runner does before it is thrown away; `logout` does it too). Its private keys go with it,
    so there is nothing to revoke; the session stays."""
    me = await trust.this_device(api)
    listed = await api.keys.mine()
    info = find_device(listed, me.device_id)
    await api.keys.remove(me.device_id)
    accounts.remove(api.server, me.user_id)
    return DeviceRow(me.device_id, info["label"], "removed", "", info["created_at"], True)


async def remove(api: Api, ref: str) -> DeviceRow:
    """Revoke one of the account's other devices: a revocation signed by the identity, which
    every client that sees it honours (that device never gets a key again). ``this``: this
    device (see `remove_this`)."""
    if ref == THIS_DEVICE:
        return await remove_this(api)
    me, account, listed = await _holder(api)
    info = find_device(listed, ref)
    if info["device_id"] == me.device_id:
        raise UsageError(_("that is this device: `videonet devices remove this` takes it off"))
    x25519 = protocol.decode_public_key(info["public_key"])
    ed25519 = protocol.decode_public_key(info["signing_key"])
    if x25519 is None or ed25519 is None:
        # Keys it never had cannot be revoked by signature: it gets no key anyway; drop it.
        await api.keys.remove(info["device_id"])
        return DeviceRow(info["device_id"], info["label"], REVOKED, "", info["created_at"], False)
    assert account.identity is not None
    revocation = trust.revoke(account.identity, account.user_id, info["device_id"], x25519, ed25519)
    await api.keys.update(info["device_id"], {"revocation": revocation})
    return _row_of(await api.keys.mine(), account.identity_public, me.device_id, info["device_id"])


async def restore(api: Api, recovery_key: str) -> MyDevices:
    """Hold the account's identity on this device again (from its recovery key) and certify
    this device with it."""
    identity = signing.decode_recovery_key(recovery_key)
    public = identity.public_key().public_bytes_raw()
    key, _created = device_keys.load_or_create()
    await api.keys.publish(key.device_id, key.public_bytes, key.signing_public_bytes, key.label)
    listed = await api.keys.mine()
    remote = trust.decode_identity(listed)
    if remote is not None and remote != public:
        raise KeyChangedError(
            _(
                "that recovery key is for another identity than {user}'s on this daemon "
                "({fingerprint})"
            ).format(user=listed["username"], fingerprint=trust.identity_fingerprint(remote))
        )
    held = accounts.load(api.server, listed["user_id"])
    if held is not None and held.identity_public != public:
        raise KeyChangedError(_("this device already holds another identity for this account"))
    await trust.adopt_identity(api, listed, key, identity, made_now=False)
    return await my_devices(api)


async def new_identity(api: Api) -> MyDevices:
    """Replace the account's identity with a new one made here (the recovery key of the old
    one is lost): every device must be linked again, and everyone who pinned the old identity
    sees the one loud warning until they compare safety numbers again."""
    key, _created = device_keys.load_or_create()
    await api.keys.publish(key.device_id, key.public_bytes, key.signing_public_bytes, key.label)
    listed = await api.keys.mine()
    await trust.adopt_identity(
        api, listed, key, Ed25519PrivateKey.generate(), made_now=True, replace=True
    )
    return await my_devices(api)
