"""This device on its account: keys made and published, the account's identity made (on the
first device), restored (a recovery key) or known (a linked device), and this device certified."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from videonet_cli.api import Api
from videonet_cli.config import ENV_RECOVERY_KEY, ENV_RECOVERY_KEY_FILE
from videonet_cli.errors import CliError, KeyChangedError, NotFoundError, NotLinkedError, UsageError
from videonet_cli.i18n import _
from videonet_cli.identity import account as accounts
from videonet_cli.identity import device as device_keys
from videonet_cli.identity import signing
from videonet_cli.identity.certify import certify, check_device, decode_identity, listed_device
from videonet_cli.identity.model import ThisDevice
from videonet_cli.identity.pins import OWN
from videonet_protocol import protocol


def recovery_key_from_env() -> str | None:
    """VIDEONET_RECOVERY_KEY, else the file VIDEONET_RECOVERY_KEY_FILE names, else None."""
    value = os.environ.get(ENV_RECOVERY_KEY, "").strip()
    if value:
        return value
    path = os.environ.get(ENV_RECOVERY_KEY_FILE, "").strip()
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(
                _("{env}: cannot read {path}: {error}").format(
                    env=ENV_RECOVERY_KEY_FILE, path=path, error=exc
                )
            ) from exc
    return None


async def _publish_device(api: Api, key: device_keys.DeviceKey) -> protocol.DeviceKeyInfo:
    return await api.keys.publish(
        key.device_id, key.public_bytes, key.signing_public_bytes, key.label
    )


async def _published_and_listed(api: Api, key: device_keys.DeviceKey) -> protocol.UserKeys:
    """Publish this device's keys and list the account's, both at once (one round trip fewer
    before every command's first byte). The listing may be from just before the publish: it is
    kept only when it shows this device exactly as the publish answered (a repeated publish,
    which changes nothing), else listed again."""
    published, listed = await asyncio.gather(_publish_device(api, key), api.keys.mine())
    shown = next((d for d in listed["devices"] if d["device_id"] == key.device_id), None)
    if shown != published:
        listed = await api.keys.mine()
    return listed


def _this(account: accounts.Account, key: device_keys.DeviceKey, label: str) -> ThisDevice:
    return ThisDevice(
        account.server,
        account.user_id,
        account.username,
        key.device_id,
        label,
        key.private_key,
        key.signing_key,
    )


async def adopt_identity(
    api: Api,
    listed: protocol.UserKeys,
    key: device_keys.DeviceKey,
    identity: Ed25519PrivateKey,
    *,
    made_now: bool,
    replace: bool = False,
) -> accounts.Account:
    """Hold ``identity`` on this device: record it on the daemon if it has none, keep it in the
    account file, and certify this device with it."""
    public = identity.public_key().public_bytes_raw()
    if decode_identity(listed) != public:
        listed = await api.keys.set_identity(public, replace=replace)
    account = accounts.Account(
        api.server,
        listed["user_id"],
        listed["username"],
        public,
        identity,
        recovery_shown=not made_now,
    )
    accounts.save(account)
    await certify_device(api, account, key.device_id, listed)
    return account


async def certify_device(
    api: Api, account: accounts.Account, device_id: str, listed: protocol.UserKeys
) -> protocol.DeviceKeyInfo:
    """Certify one of the account's listed devices with the identity held here."""
    if account.identity is None:
        raise NotLinkedError(
            _("this device does not hold your identity: it cannot certify devices")
        )
    info = next((d for d in listed["devices"] if d["device_id"] == device_id), None)
    if info is None:
        raise NotFoundError(_("you have no device {device}").format(device=repr(device_id)))
    x25519 = protocol.decode_public_key(info["public_key"])
    ed25519 = protocol.decode_public_key(info["signing_key"])
    if x25519 is None or ed25519 is None:
        raise CliError(
            _("device {device} has no usable keys on the daemon").format(device=device_id)
        )
    certificate = certify(
        account.identity, account.user_id, device_id, x25519, ed25519, info["label"]
    )
    return await api.keys.update(device_id, {"certificate": certificate, "label": info["label"]})


async def this_device(api: Api) -> ThisDevice:
    """This installation's keys, published, and certified by the account's identity.

    On the account's first device the identity is made here (its recovery key is then shown
    once by the next command that renders it: `videonet login`, `videonet devices`). With
    VIDEONET_RECOVERY_KEY (or _FILE) the identity is restored from it. Otherwise a device the
    identity has not certified raises `NotLinkedError`, which says how to link it.
    """
    key, _created = device_keys.load_or_create()
    listed = await _published_and_listed(api, key)
    remote = decode_identity(listed)
    account = accounts.load(api.server, listed["user_id"])
    if account is None and remote is not None:
        account = accounts.moved(api.server, listed["user_id"], listed["username"], remote)
    if account is None:
        recovery = recovery_key_from_env()
        if recovery is not None:
            identity = signing.decode_recovery_key(recovery)
            public = identity.public_key().public_bytes_raw()
            if remote is not None and remote != public:
                raise KeyChangedError(
                    _(
                        "the recovery key in {env} is not for {user}'s identity on this daemon"
                    ).format(env=ENV_RECOVERY_KEY, user=listed["username"])
                )
            account = await adopt_identity(api, listed, key, identity, made_now=False)
            listed = await api.keys.mine()
        elif remote is None:
            account = await adopt_identity(
                api, listed, key, Ed25519PrivateKey.generate(), made_now=True
            )
            listed = await api.keys.mine()
        else:
            raise NotLinkedError()
    elif remote != account.identity_public:
        if remote is None and account.identity is not None:
            listed = await api.keys.set_identity(account.identity_public)
        else:
            raise KeyChangedError(
                _(
                    "the daemon lists another identity for your account {user} than the one this "
                    "device holds: someone may have taken over the account, or the daemon is lying"
                ).format(user=account.username)
            )
    mine = listed_device(listed, key.device_id)
    checked = check_device(mine, account.user_id, account.username, account.identity_public, OWN)
    if checked.device is None:
        if account.identity is None:
            raise NotLinkedError()
        await certify_device(api, account, key.device_id, listed)
    return _this(account, key, mine["label"])


def own_account(me: ThisDevice) -> accounts.Account:
    found = accounts.load(me.server, me.user_id)
    if found is None:
        raise NotLinkedError()
    return found
