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
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from videonet_cli.api import Api
from videonet_cli.errors import (
    CliError,
    KeyChangedError,
    NotFoundError,
    UntrustedSenderError,
    UsageError,
)
from videonet_cli.i18n import N_, _
from videonet_cli.identity import account as accounts
from videonet_cli.identity.certify import (
    certify,
    check_device,
    decode_identity,
    listed_device,
    revoke,
)
from videonet_cli.identity.enroll import (
    adopt_identity,
    certify_device,
    own_account,
    recovery_key_from_env,
    this_device,
)
from videonet_cli.identity.model import (
    Confirm,
    FirstSeen,
    Recipients,
    SkippedDevice,
    ThisDevice,
    TrustedDevice,
    as_trusted,
    device_name,
    identity_fingerprint,
    short_id,
    signer,
)
from videonet_cli.identity.pins import FIRST_USE, OWN, Pin, Pins, PinStore
from videonet_cli.transfer.said import said
from videonet_protocol import protocol
from videonet_protocol.names import name_key

__all__ = [
    "Confirm",
    "FirstSeen",
    "Listing",
    "Recipients",
    "SkippedDevice",
    "ThisDevice",
    "TrustedDevice",
    "adopt_identity",
    "certify",
    "certify_device",
    "changed_identity_error",
    "check_device",
    "choose_recipients",
    "decode_identity",
    "device_name",
    "identity_fingerprint",
    "list_recipients",
    "listed_device",
    "own_account",
    "recovery_key_from_env",
    "revoke",
    "sender_keys",
    "short_id",
    "sign",
    "signer",
    "this_device",
    "trusted_sender",
    "verify_signature",
]

PEER_KEY_REQUESTS = 8  # users whose keys are asked for at once


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
                said(
                    N_(
                        "the daemon answered for {listed} when asked for {asked}: not "
                        "encrypting to it"
                    ),
                    listed=repr(listed.get("username")),
                    asked=repr(name),
                )
            )
        return listed

    return list(await asyncio.gather(*(one(n, spelling) for n, spelling in names)))


def _accepted_by_name(first: FirstSeen, trust_new: bool | Collection[str]) -> bool:
    if isinstance(trust_new, bool):
        return trust_new
    names = [trust_new] if isinstance(trust_new, str) else trust_new
    return name_key(first.username) in {name_key(n) for n in names}


def _first_seen_error(pending: list[FirstSeen]) -> UsageError:
    shown = ", ".join(
        _("{user} (identity {fingerprint})").format(
            user=f.username, fingerprint=f.identity_fingerprint
        )
        for f in pending
    )
    names = " ".join(f"--to {f.username}" for f in pending)
    return UsageError(
        _(
            "first time this device sees {users}: not encrypting to an identity nobody "
            "confirmed; run on a terminal to confirm, or pass {options} (or --trust-new) to "
            "accept it"
        ).format(users=shown, options=names)
    )


def changed_identity_error(username: str, pinned: bytes, now: bytes) -> KeyChangedError:
    return KeyChangedError(
        said(
            N_(
                "{user}'s identity changed (pinned {pinned}, now {now}): someone may be "
                "impersonating them, or the daemon is lying. Compare safety numbers (`videonet "
                "keys verify {user}`), then `videonet keys trust {user} NUMBER`"
            ),
            user=username,
            pinned=identity_fingerprint(pinned),
            now=identity_fingerprint(now),
        )
    )


@dataclass(frozen=True)
class Listing:
    """What the daemon lists for a send, unchecked: the members asked for and their keys."""

    asked: dict[str, str]  # folded name -> the name as asked (--to) or as listed
    names: list[str]  # the folded names, in the order of ``others``
    own: protocol.UserKeys  # this account's devices
    others: list[protocol.UserKeys]


async def list_recipients(
    api: Api, me: ThisDevice, *, room_id: str, usernames: list[str] | None
) -> Listing:
    """The room's members (all but this account, or those named), their keys and this
    account's devices, as the daemon lists them: `choose_recipients` decides what to trust.
    The whole room in one request (two before it for the members and one per member)."""
    if usernames is None:
        room, own = await asyncio.gather(api.keys.of_room(room_id), api.keys.mine())
        return _room_listing(me, room_id, room, own)
    members_listed, own = await asyncio.gather(api.rooms.members(room_id), api.keys.mine())
    asked: dict[str, str] = {}  # folded name -> the name as asked (--to), looked up as listed
    lookup: dict[str, str] = {}  # folded name -> the member's name as the daemon spells it
    members = {name_key(m["username"]): m["username"] for m in members_listed}
    for wanted in usernames:
        if name_key(wanted) not in members:
            raise NotFoundError(_("{user} is not a member of this room").format(user=wanted))
        asked[name_key(wanted)] = wanted
        lookup[name_key(wanted)] = members[name_key(wanted)]
    for table in (asked, lookup):
        table.pop(name_key(me.username), None)
    names = sorted(asked)
    others = await _keys_of(api, [(asked[n], lookup[n]) for n in names])
    return Listing(asked, names, own, others)


def _room_listing(
    me: ThisDevice, room_id: str, room: protocol.RoomKeys, own: protocol.UserKeys
) -> Listing:
    """Every member but this account, from a room's keys; an answer about another room, or
    naming one member twice, is refused (whom to encrypt to must not be ambiguous)."""
    if not isinstance(room, dict) or room.get("room_id") != room_id:
        raise CliError(said(N_("the daemon listed the keys of another room: not sending")))
    members = room.get("members")
    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
        raise CliError(said(N_("the daemon's list of the room's keys is malformed")))
    by_name: dict[str, protocol.UserKeys] = {}
    ids: set[object] = set()
    for listed in members:
        folded = name_key(str(listed.get("username", "")))
        if folded in by_name or listed.get("user_id") in ids:
            raise CliError(
                said(
                    N_("the daemon listed {user} twice among the room's keys: not sending"),
                    user=repr(listed.get("username")),
                )
            )
        by_name[folded] = listed
        ids.add(listed.get("user_id"))
    by_name.pop(name_key(me.username), None)
    names = sorted(by_name)
    asked = {n: str(by_name[n]["username"]) for n in names}
    return Listing(asked, names, own, [by_name[n] for n in names])


async def choose_recipients(
    api: Api,
    me: ThisDevice,
    *,
    room_id: str,
    usernames: list[str] | None,
    only_me: bool = False,
    trust_new: bool | Collection[str] = False,
    confirm: Confirm | None = None,
    listing: Listing | None = None,
) -> Recipients:
    """The devices a transfer's file key is wrapped for, decided here, not by the daemon.

    ``only_me`` (`send --code`): this device alone, asking the daemon nothing (the code's
    receiver gets the key through the code). ``listing``: what `list_recipients` fetched for
    the same room and names (the sender starts it beside joining the room); every check below
    is made on it as on a fresh one."""
    if only_me:
        return Recipients([as_trusted(me)], [], [])
    if listing is None:
        listing = await list_recipients(api, me, room_id=room_id, usernames=usernames)
    store = PinStore()
    asked, names = listing.asked, listing.names
    own_listed, listed_others = listing.own, listing.others
    account = own_account(me)
    if own_listed["user_id"] != me.user_id:
        raise CliError(_("the daemon listed another account's devices as yours"))
    own_remote = decode_identity(own_listed)
    if own_remote != account.identity_public:
        raise KeyChangedError(
            _(
                "the daemon lists another identity for your own account than the one this "
                "device holds: not encrypting to any of its devices"
            )
        )

    snapshot = store.read()
    users: list[_User] = []
    skipped: list[SkippedDevice] = []
    for folded, listed in zip(names, listed_others, strict=True):
        if listed["user_id"] == me.user_id:
            raise CliError(
                _("the daemon answered for {asked} with your own account").format(
                    asked=repr(asked[folded])
                )
            )
        identity = decode_identity(listed)
        if identity is None:
            none_yet = said(N_("no identity yet"))
            skipped += [
                SkippedDevice(listed["username"], d["device_id"], d["label"], none_yet)
                for d in listed["devices"]
            ] or [SkippedDevice(listed["username"], "", "", none_yet)]
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
            raise UsageError(_("not sending: the new identities were not confirmed"))

    devices = [as_trusted(me)]
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
                notices.append(
                    said(
                        N_("{old} is now called {new}"),
                        old=pin.username,
                        new=u.listed["username"],
                    )
                )
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
            name = device_name(device.label, device.device_id)
            found.notices.append(
                said(N_("You have a new device {device} (certified by your identity)"), device=name)
                if trust == OWN
                else said(
                    N_("{user} has a new device {device} (certified by {user}'s identity)"),
                    user=username,
                    device=name,
                )
            )
        pin.devices[device.device_id] = device.fingerprint
        found.devices.append(device)
    return found


# --- the receiver's check --------------------------------------------------------------------


async def sender_keys(api: Api, me: ThisDevice, user_id: int, username: str) -> protocol.UserKeys:
    """The keys `trusted_sender` checks a sender against: this account's own, or those the
    daemon lists under ``username`` (which it must answer for)."""
    if user_id == me.user_id:
        return await api.keys.mine()
    return (await _keys_of(api, [(username, username)]))[0]


async def trusted_sender(
    api: Api,
    me: ThisDevice,
    *,
    user_id: int,
    username: str,
    device_id: str,
    listed: protocol.UserKeys | None = None,
) -> TrustedDevice:
    """The sending device, checked: certified by the sender's pinned identity (pinned now on
    first use, shown as "first use") and not revoked; else `UntrustedSenderError` or
    `KeyChangedError`. ``username`` is what the header names; the daemon must agree.
    ``listed``: `sender_keys` for this same user_id and username, when already fetched."""
    if listed is None:
        listed = await sender_keys(api, me, user_id, username)
    if user_id == me.user_id:
        account = own_account(me)
        if decode_identity(listed) != account.identity_public:
            raise KeyChangedError(
                said(
                    N_(
                        "the daemon lists another identity for your own account than the one "
                        "this device holds"
                    )
                )
            )
        identity, trust = account.identity_public, OWN
        if name_key(listed["username"]) != name_key(username):
            raise UntrustedSenderError(
                said(
                    N_("the sender is named {sender}, not {me}"),
                    sender=repr(username),
                    me=repr(me.username),
                )
            )
    else:
        if listed["user_id"] != user_id:
            raise UntrustedSenderError(
                said(
                    N_("the daemon says {user} is another account than the sender named"),
                    user=username,
                )
            )
        found_identity = decode_identity(listed)
        if found_identity is None:
            raise UntrustedSenderError(
                said(N_("{user} has no identity: nothing from them is trusted"), user=username)
            )
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
            raise UntrustedSenderError(
                said(N_("{user} has no device {device}"), user=username, device=repr(device_id))
            )
        checked = check_device(info, user_id, listed["username"], identity, trust, revoked)
        if checked.revoked and pin is not None:
            pin.revoked.add(device_id)
            pins.put(api.server, pin)
    if checked.device is None:
        assert checked.skipped is not None
        raise UntrustedSenderError(
            said(
                N_("{user}'s device {device}: {reason}; nothing from it is accepted"),
                user=username,
                device=device_name(checked.skipped.label, device_id),
                reason=checked.skipped.reason,
            )
        )
    return checked.device
