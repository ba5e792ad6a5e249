"""Who this device is, and whom it trusts: the interface the transfer pipeline codes against.

The sender decides who gets a file key; the daemon only lists candidates. A user is trusted
through their *identity* (one Ed25519 key per account), pinned per (server, user id) the first
time it is seen, and only with a person's word (a terminal confirmation, or the name given on
the command line). A device counts when that identity certified it and did not revoke it. So:

- a new device of a known user, certified by their identity: accepted, with a one-line notice;
- a device the identity did not certify, or revoked, or whose keys cannot be used: skipped, and
  named in one line;
- an identity that is not the one pinned: `KeyChangedError` (exit 6), the one loud warning;
- a name the daemon answers for with another name: refused (a daemon must not answer for "BOB"
  with someone else, nor with a device of its own).

Signatures made with `sign` are Ed25519 over ``len(label) || label || message``.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from videonet_cli.api import Api
from videonet_cli.config import ENV_RECOVERY_KEY, ENV_RECOVERY_KEY_FILE
from videonet_cli.errors import (
    CliError,
    KeyChangedError,
    NotFoundError,
    NotLinkedError,
    UntrustedSenderError,
    UsageError,
)
from videonet_cli.identity import account as accounts
from videonet_cli.identity import device as device_keys
from videonet_cli.identity import signing
from videonet_cli.identity.pins import FIRST_USE, OWN, Pin, Pins, PinStore
from videonet_protocol import protocol
from videonet_protocol.keycheck import ed25519_problem, x25519_problem
from videonet_protocol.names import name_key

PEER_KEY_REQUESTS = 8  # users whose keys are asked for at once


@dataclass(frozen=True)
class ThisDevice:
    server: str  # the normalized server origin pins are kept under
    user_id: int
    username: str
    device_id: str
    label: str
    x25519: X25519PrivateKey  # receives wrapped file keys (HPKE)
    ed25519: Ed25519PrivateKey  # signs what this device sends (transfer headers, seals, verdicts)

    @property
    def x25519_public(self) -> bytes:
        return self.x25519.public_key().public_bytes_raw()

    @property
    def ed25519_public(self) -> bytes:
        return self.ed25519.public_key().public_bytes_raw()

    @property
    def fingerprint(self) -> str:
        return protocol.device_fingerprint(self.x25519_public, self.ed25519_public)


@dataclass(frozen=True)
class TrustedDevice:
    user_id: int
    username: str
    device_id: str
    label: str
    x25519_public: bytes  # 32 bytes
    ed25519_public: bytes  # 32 bytes
    trust: str  # "own" | "first use" | "verified"  (of the user's identity)
    fingerprint: str  # protocol-level fingerprint of the device keys (goes in headers)


@dataclass(frozen=True)
class SkippedDevice:
    username: str
    device_id: str
    label: str
    reason: str  # one line: "not certified by bob's identity", "unusable key", "revoked"


@dataclass(frozen=True)
class Recipients:
    devices: list[TrustedDevice]  # who gets the file key (always includes ThisDevice as "own")
    skipped: list[SkippedDevice]
    notices: list[str]  # one line each


@dataclass(frozen=True)
class FirstSeen:
    username: str
    user_id: int
    identity_fingerprint: str  # short, readable


class Confirm(Protocol):  # asks the person on a terminal; None when there is no terminal
    async def __call__(self, first_seen: list[FirstSeen]) -> bool: ...


def short_id(device_id: str) -> str:
    """The first characters of a device id: enough to tell two devices with one label apart."""
    return device_id[:8]


def device_name(label: str, device_id: str) -> str:
    return f"{label or 'device'} ({short_id(device_id)})"


def identity_fingerprint(identity_public: bytes) -> str:
    return protocol.key_fingerprint(identity_public)


# --- signatures ------------------------------------------------------------------------------


def _signed(label: bytes, message: bytes) -> bytes:
    return len(label).to_bytes(2, "big") + label + message


def sign(me: ThisDevice, label: bytes, message: bytes) -> bytes:
    """This device's Ed25519 signature over ``label`` and ``message`` (64 bytes)."""
    return me.ed25519.sign(_signed(label, message))


def verify_signature(device: TrustedDevice, label: bytes, message: bytes, signature: bytes) -> bool:
    """Did ``device`` sign ``message`` under ``label``?"""
    try:
        Ed25519PublicKey.from_public_bytes(device.ed25519_public).verify(
            signature, _signed(label, message)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


# --- certificates ----------------------------------------------------------------------------


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
class _Checked:
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
) -> _Checked:
    """A listed device as trusted (certified, not revoked, usable keys) or skipped, with why."""
    device_id = str(info.get("device_id", ""))
    label = str(info.get("label", ""))

    def skip(reason: str, revoked: bool = False) -> _Checked:
        return _Checked(None, SkippedDevice(username, device_id, label, reason), revoked)

    x25519 = protocol.decode_public_key(str(info.get("public_key", "")))
    ed25519 = protocol.decode_public_key(str(info.get("signing_key", "")))
    if x25519 is None or ed25519 is None:
        return skip("unusable key (not a pair of 32-byte public keys)")
    problem = x25519_problem(x25519) or ed25519_problem(ed25519)
    if problem is not None:
        return skip(f"unusable key ({problem})")
    if device_id in known_revoked:
        return skip("revoked", revoked=True)
    revocation = protocol.decode_blob(info.get("revocation"))
    if revocation is not None and signing.verify_blob(
        identity_public,
        signing.revocation_message(user_id, device_id, x25519, ed25519),
        revocation,
    ):
        return skip("revoked", revoked=True)
    certificate = protocol.decode_blob(info.get("certificate"))
    message = signing.certificate_message(user_id, device_id, x25519, ed25519, label)
    if not signing.verify_blob(identity_public, message, certificate):
        return skip(f"not certified by {username}'s identity")
    fingerprint = protocol.device_fingerprint(x25519, ed25519)
    return _Checked(
        TrustedDevice(user_id, username, device_id, label, x25519, ed25519, trust, fingerprint),
        None,
    )


# --- this device -----------------------------------------------------------------------------


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
            raise UsageError(f"{ENV_RECOVERY_KEY_FILE}: cannot read {path}: {exc}") from exc
    return None


def listed_device(listed: protocol.UserKeys, device_id: str) -> protocol.DeviceKeyInfo:
    """One device of a listing, or a one-line error when the daemon left it out."""
    found = next((d for d in listed["devices"] if d["device_id"] == device_id), None)
    if found is None:
        raise CliError(f"the daemon did not list device {device_id} of {listed['username']}")
    return found


def decode_identity(listed: protocol.UserKeys) -> bytes | None:
    raw = protocol.decode_public_key(str(listed.get("identity_key") or ""))
    if raw is None or ed25519_problem(raw) is not None:
        return None
    return raw


async def _publish_device(api: Api, key: device_keys.DeviceKey) -> None:
    await api.keys.publish(key.device_id, key.public_bytes, key.signing_public_bytes, key.label)


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
        raise NotLinkedError("this device does not hold your identity: it cannot certify devices")
    info = next((d for d in listed["devices"] if d["device_id"] == device_id), None)
    if info is None:
        raise NotFoundError(f"you have no device {device_id!r}")
    x25519 = protocol.decode_public_key(info["public_key"])
    ed25519 = protocol.decode_public_key(info["signing_key"])
    if x25519 is None or ed25519 is None:
        raise CliError(f"device {device_id} has no usable keys on the daemon")
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
    key, _ = device_keys.load_or_create()
    await _publish_device(api, key)
    listed = await api.keys.mine()
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
                    f"the recovery key in {ENV_RECOVERY_KEY} is not for {listed['username']}'s "
                    "identity on this daemon"
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
                f"the daemon lists another identity for your account {account.username} than "
                "the one this device holds: someone may have taken over the account, or the "
                "daemon is lying"
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


def _as_trusted(me: ThisDevice) -> TrustedDevice:
    return TrustedDevice(
        me.user_id,
        me.username,
        me.device_id,
        me.label,
        me.x25519_public,
        me.ed25519_public,
        OWN,
        me.fingerprint,
    )


# --- recipients ------------------------------------------------------------------------------


@dataclass
class _User:
    listed: protocol.UserKeys
    identity: bytes | None
    pin: Pin | None


async def _keys_of(api: Api, names: Sequence[tuple[str, str]]) -> list[protocol.UserKeys]:
    """Each user's keys: (the name asked for, the spelling to look it up by)."""
    limit = asyncio.Semaphore(PEER_KEY_REQUESTS)

    async def one(name: str, spelling: str) -> protocol.UserKeys:
        async with limit:
            listed = await api.keys.of_user(spelling)
        # Finding 1 of issue 21: the daemon must answer for the name asked, not another one.
        if name_key(str(listed.get("username", ""))) != name_key(name):
            raise CliError(
                f"the daemon answered for {listed.get('username')!r} when asked for {name!r}: "
                "not encrypting to it"
            )
        return listed

    return list(await asyncio.gather(*(one(n, spelling) for n, spelling in names)))


def _accepted_by_name(first: FirstSeen, trust_new: bool | Collection[str]) -> bool:
    if isinstance(trust_new, bool):
        return trust_new
    names = [trust_new] if isinstance(trust_new, str) else trust_new
    return name_key(first.username) in {name_key(n) for n in names}


def _first_seen_error(pending: list[FirstSeen]) -> UsageError:
    shown = ", ".join(f"{f.username} (identity {f.identity_fingerprint})" for f in pending)
    names = " ".join(f"--to {f.username}" for f in pending)
    return UsageError(
        f"first time this device sees {shown}: not encrypting to an identity nobody confirmed; "
        f"run on a terminal to confirm, or pass {names} (or --trust-new) to accept it"
    )


def changed_identity_error(username: str, pinned: bytes, now: bytes) -> KeyChangedError:
    return KeyChangedError(
        f"{username}'s identity changed (pinned {identity_fingerprint(pinned)}, now "
        f"{identity_fingerprint(now)}): someone may be impersonating them, or the daemon is "
        f"lying. Compare safety numbers (`videonet keys verify {username}`), then "
        f"`videonet keys trust {username} NUMBER`"
    )


async def choose_recipients(
    api: Api,
    me: ThisDevice,
    *,
    room_id: str,
    usernames: list[str] | None,
    only_me: bool = False,
    trust_new: bool | Collection[str] = False,
    confirm: Confirm | None = None,
) -> Recipients:
    """The devices a transfer's file key is wrapped for, decided here, not by the daemon.

    ``only_me`` (`send --code`): this device alone, asking the daemon nothing (the code's
    receiver gets the key through the code)."""
    if only_me:
        return Recipients([_as_trusted(me)], [], [])
    store = PinStore()
    asked: dict[str, str] = {}  # folded name -> the name as asked (--to), looked up as listed
    lookup: dict[str, str] = {}  # folded name -> the member's name as the daemon spells it
    members = {name_key(m["username"]): m["username"] for m in await api.rooms.members(room_id)}
    if usernames is None:
        asked, lookup = dict(members), dict(members)
    else:
        for wanted in usernames:
            if name_key(wanted) not in members:
                raise NotFoundError(f"{wanted} is not a member of this room")
            asked[name_key(wanted)] = wanted
            lookup[name_key(wanted)] = members[name_key(wanted)]
    for table in (asked, lookup):
        table.pop(name_key(me.username), None)
    names = sorted(asked)
    own_listed, listed_others = await asyncio.gather(
        api.keys.mine(), _keys_of(api, [(asked[n], lookup[n]) for n in names])
    )
    account = own_account(me)
    if own_listed["user_id"] != me.user_id:
        raise CliError("the daemon listed another account's devices as yours")
    own_remote = decode_identity(own_listed)
    if own_remote != account.identity_public:
        raise KeyChangedError(
            "the daemon lists another identity for your own account than the one this device "
            "holds: not encrypting to any of its devices"
        )

    snapshot = store.read()
    users: list[_User] = []
    skipped: list[SkippedDevice] = []
    for folded, listed in zip(names, listed_others, strict=True):
        if listed["user_id"] == me.user_id:
            raise CliError(f"the daemon answered for {asked[folded]!r} with your own account")
        identity = decode_identity(listed)
        if identity is None:
            skipped += [
                SkippedDevice(listed["username"], d["device_id"], d["label"], "no identity yet")
                for d in listed["devices"]
            ] or [SkippedDevice(listed["username"], "", "", "no identity yet")]
            continue
        users.append(_User(listed, identity, snapshot.get(api.server, listed["user_id"])))

    for u in users:
        if u.pin is not None and u.identity is not None and u.pin.identity_key != u.identity:
            raise changed_identity_error(u.listed["username"], u.pin.identity_key, u.identity)

    pending = [
        FirstSeen(u.listed["username"], u.listed["user_id"], identity_fingerprint(u.identity))
        for u in users
        if u.pin is None and u.identity is not None
    ]
    unaccepted = [f for f in pending if not _accepted_by_name(f, trust_new)]
    if unaccepted:
        if confirm is None:
            raise _first_seen_error(unaccepted)
        if not await confirm(unaccepted):
            raise UsageError("not sending: the new identities were not confirmed")

    devices = [_as_trusted(me)]
    notices = list(store.notices)
    with store.edit() as pins:
        own_pin = _own_pin(pins, api.server, account)
        own = _devices_of(own_listed, account.identity_public, OWN, own_pin, first=False)
        devices += [d for d in own.devices if d.device_id != me.device_id]
        skipped += own.skipped
        notices += own.notices
        pins.put(api.server, own_pin)
        for u in users:
            assert u.identity is not None
            pin = pins.get(api.server, u.listed["user_id"])
            if pin is not None and pin.identity_key != u.identity:  # pinned meanwhile
                raise changed_identity_error(u.listed["username"], pin.identity_key, u.identity)
            # A pin without devices (made by `keys trust`) learns them without a notice each.
            first = pin is None or not pin.devices
            if pin is None:
                pin = Pin(u.listed["user_id"], u.listed["username"], u.identity)
            elif name_key(pin.username) != name_key(u.listed["username"]):
                notices.append(f"{pin.username} is now called {u.listed['username']}")
                pin.username = u.listed["username"]
            found = _devices_of(u.listed, u.identity, pin.state, pin, first=first)
            devices += found.devices
            skipped += found.skipped
            notices += found.notices
            pins.put(api.server, pin)
    return Recipients(devices, skipped, notices)


def _own_pin(pins: Pins, server: str, account: accounts.Account) -> Pin:
    pin = pins.get(server, account.user_id)
    if pin is None or pin.identity_key != account.identity_public:
        pin = Pin(account.user_id, account.username, account.identity_public, OWN)
    return pin


@dataclass
class _Found:
    devices: list[TrustedDevice]
    skipped: list[SkippedDevice]
    notices: list[str]


def _devices_of(
    listed: protocol.UserKeys, identity: bytes, trust: str, pin: Pin, *, first: bool
) -> _Found:
    """The listed devices of one user checked against their identity; ``pin`` learns which
    devices were seen (a new one is a notice, once) and which were revoked (for good)."""
    found = _Found([], [], [])
    username = listed["username"]
    for info in listed["devices"]:
        checked = check_device(
            info, listed["user_id"], username, identity, trust, known_revoked=pin.revoked
        )
        if checked.revoked:
            if info["device_id"] not in pin.revoked and checked.skipped is not None:
                found.skipped.append(checked.skipped)  # named once; then left out quietly
            pin.revoked.add(info["device_id"])
            pin.devices.pop(info["device_id"], None)
            continue
        if checked.device is None:
            assert checked.skipped is not None
            found.skipped.append(checked.skipped)
            continue
        device = checked.device
        seen = pin.devices.get(device.device_id)
        if seen is None and not first:
            whose = "your" if trust == OWN else f"{username}'s"
            owner = "You have" if trust == OWN else f"{username} has"
            found.notices.append(
                f"{owner} a new device {device_name(device.label, device.device_id)} "
                f"(certified by {whose} identity)"
            )
        pin.devices[device.device_id] = device.fingerprint
        found.devices.append(device)
    return found


# --- the receiver's check --------------------------------------------------------------------


async def trusted_sender(
    api: Api, me: ThisDevice, *, user_id: int, username: str, device_id: str
) -> TrustedDevice:
    """The sending device, checked: certified by the sender's pinned identity (pinned now on
    first use, shown as "first use") and not revoked; else `UntrustedSenderError` or
    `KeyChangedError`. ``username`` is what the header names; the daemon must agree."""
    if user_id == me.user_id:
        listed = await api.keys.mine()
        account = own_account(me)
        if decode_identity(listed) != account.identity_public:
            raise KeyChangedError(
                "the daemon lists another identity for your own account than the one this "
                "device holds"
            )
        identity, trust = account.identity_public, OWN
        if name_key(listed["username"]) != name_key(username):
            raise UntrustedSenderError(f"the sender is named {username!r}, not {me.username!r}")
    else:
        listed = (await _keys_of(api, [(username, username)]))[0]
        if listed["user_id"] != user_id:
            raise UntrustedSenderError(
                f"the daemon says {username} is another account than the sender named"
            )
        found_identity = decode_identity(listed)
        if found_identity is None:
            raise UntrustedSenderError(f"{username} has no identity: nothing from them is trusted")
        identity = found_identity
        trust = FIRST_USE
    store = PinStore()
    with store.edit() as pins:
        pin = pins.get(api.server, user_id)
        if trust != OWN:
            if pin is not None and pin.identity_key != identity:
                raise changed_identity_error(listed["username"], pin.identity_key, identity)
            if pin is None:
                pin = Pin(user_id, listed["username"], identity)
                pins.put(api.server, pin)
            trust = pin.state
        revoked = pin.revoked if pin is not None else set()
        info = next((d for d in listed["devices"] if d["device_id"] == device_id), None)
        if info is None:
            raise UntrustedSenderError(f"{username} has no device {device_id!r}")
        checked = check_device(info, user_id, listed["username"], identity, trust, revoked)
        if checked.revoked and pin is not None:
            pin.revoked.add(device_id)
            pins.put(api.server, pin)
    if checked.device is None:
        assert checked.skipped is not None
        raise UntrustedSenderError(
            f"{username}'s device {device_name(checked.skipped.label, device_id)}: "
            f"{checked.skipped.reason}; nothing from it is accepted"
        )
    return checked.device
