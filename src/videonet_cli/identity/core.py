"""The cores of `videonet keys` and of what `login`/`logout` do about keys: a member's identity
and devices shown against the pins, the safety number of two identities, a number recorded as
verified. They return data; the commands render it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from videonet_cli.api import Api
from videonet_cli.errors import CliError, NotLinkedError, UsageError
from videonet_cli.i18n import _
from videonet_cli.identity import account as accounts
from videonet_cli.identity import device as device_keys
from videonet_cli.identity import signing, trust
from videonet_cli.identity.pins import FIRST_USE, OWN, VERIFIED, Pin, PinStore
from videonet_protocol.names import name_key

NOT_PINNED = "not pinned"
CHANGED = "changed"


async def publish_this_device(
    api: Api, directory: Path | None = None
) -> tuple[device_keys.DeviceKey, bool]:
    """This installation's keys, published and certified (see `trust.this_device`)."""
    await trust.this_device(api)
    return device_keys.load_or_create(directory)


@dataclass(frozen=True)
class PeerKeys:
    username: str
    user_id: int
    identity_fingerprint: str | None  # None: the user has no identity yet
    state: str  # NOT_PINNED | FIRST_USE | VERIFIED | CHANGED | "own"
    pinned_fingerprint: str | None
    devices: list[trust.TrustedDevice]
    skipped: list[trust.SkippedDevice]


async def peer_keys(api: Api, username: str) -> PeerKeys:
    """A user's identity against the pin and their devices against the identity (pins nothing:
    an identity is pinned by a send the person confirmed, or by `keys trust`)."""
    me = await trust.this_device(api)
    if name_key(username) == name_key(me.username):
        listed = await api.keys.mine()
        account = trust.own_account(me)
        identity: bytes | None = account.identity_public
        state, pinned = OWN, identity
    else:
        listed = await api.keys.of_user(username)
        if name_key(listed["username"]) != name_key(username):
            raise CliError(
                _("the daemon answered for {listed}, not {asked}").format(
                    listed=repr(listed["username"]), asked=repr(username)
                )
            )
        identity = trust.decode_identity(listed)
        pin = PinStore().read().get(api.server, listed["user_id"])
        pinned = pin.identity_key if pin else None
        if pin is None:
            state = NOT_PINNED
        elif identity is not None and pin.identity_key != identity:
            state = CHANGED
        else:
            state = pin.state
    devices: list[trust.TrustedDevice] = []
    skipped: list[trust.SkippedDevice] = []
    for info in listed["devices"]:
        if identity is None:
            break
        checked = trust.check_device(info, listed["user_id"], listed["username"], identity, state)
        if checked.device is not None:
            devices.append(checked.device)
        elif checked.skipped is not None:
            skipped.append(checked.skipped)
    return PeerKeys(
        listed["username"],
        listed["user_id"],
        trust.identity_fingerprint(identity) if identity else None,
        state,
        trust.identity_fingerprint(pinned) if pinned else None,
        devices,
        skipped,
    )


@dataclass(frozen=True)
class Safety:
    username: str  # the other user
    number: str  # 60 digits
    state: str  # of their identity here: NOT_PINNED | FIRST_USE | VERIFIED | CHANGED
    identity_fingerprint: str

    @property
    def lines(self) -> list[str]:
        return signing.group_digits(self.number)

    @property
    def qr_payload(self) -> str:
        return f"videonet-safety-number:v1:{self.number}"


async def _their_identity(api: Api, username: str) -> tuple[trust.ThisDevice, int, str, bytes]:
    me = await trust.this_device(api)
    if name_key(username) == name_key(me.username):
        raise UsageError(_("a safety number is between you and someone else: name another user"))
    listed = await api.keys.of_user(username)
    if name_key(listed["username"]) != name_key(username):
        raise CliError(
            _("the daemon answered for {listed}, not {asked}").format(
                listed=repr(listed["username"]), asked=repr(username)
            )
        )
    identity = trust.decode_identity(listed)
    if identity is None:
        raise CliError(
            _("{user} has no identity yet (they have not used the CLI)").format(
                user=listed["username"]
            )
        )
    return me, listed["user_id"], listed["username"], identity


async def verify(api: Api, username: str) -> Safety:
    """The safety number of your identity and ``username``'s, as the daemon lists theirs now."""
    me, user_id, name, identity = await _their_identity(api, username)
    account = trust.own_account(me)
    pin = PinStore().read().get(api.server, user_id)
    if pin is None:
        state = NOT_PINNED
    elif pin.identity_key != identity:
        state = CHANGED
    else:
        state = pin.state
    number = signing.safety_number((me.user_id, account.identity_public), (user_id, identity))
    return Safety(name, number, state, trust.identity_fingerprint(identity))


async def trust_number(api: Api, username: str, typed: str) -> Safety:
    """Record ``username``'s identity as verified when ``typed`` is your safety number (also
    after their identity changed: this is how a new identity is accepted)."""
    wanted = signing.normalize_number(typed)
    if len(wanted) != signing.SAFETY_DIGITS or not wanted.isdigit():
        raise UsageError(
            _("{typed} is not a safety number (60 digits, spaces or dashes allowed)").format(
                typed=repr(typed.strip()[:80])
            )
        )
    found = await verify(api, username)
    if wanted != found.number:
        raise UsageError(
            _(
                "that is not your safety number with {user}: nothing recorded (compare "
                "`videonet keys verify {user}` on both sides)"
            ).format(user=found.username)
        )
    _me, user_id, name, identity = await _their_identity(api, username)
    with PinStore().edit() as pins:
        pin = pins.get(api.server, user_id)
        if pin is None or pin.identity_key != identity:
            pin = Pin(user_id, name, identity, VERIFIED, pinned_at="")
        pin.state = VERIFIED
        pins.put(api.server, pin)
    return Safety(found.username, found.number, VERIFIED, found.identity_fingerprint)


@dataclass(frozen=True)
class Published:
    """What login did about this device's keys: certified, or why not (login still counts)."""

    device_id: str | None
    fingerprint: str | None
    error: str | None
    recovery_key: str | None = None  # shown once: the identity was made by this login

    def as_json(self) -> dict[str, str | None]:
        return {
            "device_id": self.device_id,
            "fingerprint": self.fingerprint,
            "error": self.error,
            "recovery_key": self.recovery_key,
        }


def take_recovery_key(me: trust.ThisDevice) -> str | None:
    """A new identity's recovery key, the one time it is shown (None ever after)."""
    account = accounts.load(me.server, me.user_id)
    if account is None or account.recovery_shown or account.identity is None:
        return None
    accounts.save(account.with_recovery_shown())
    return signing.encode_recovery_key(account.identity)


async def publish_after_login(server: str, token: str) -> Published:
    """Publish and certify this device with a token just issued (not the saved one, which may
    belong to someone else or be VIDEONET_TOKEN's). A failure is reported, never fatal."""
    try:
        async with Api(server, token) as api:
            me = await trust.this_device(api)
    except NotLinkedError as exc:
        key, _created = device_keys.load_or_create()
        return Published(key.device_id, key.fingerprint, exc.message)
    except CliError as exc:
        return Published(None, None, exc.message)
    return Published(me.device_id, me.fingerprint, None, take_recovery_key(me))


async def forget_this_device(api: Api) -> bool:
    """Before logout: remove this device from the account on the daemon and its copy of the
    account's identity here. Returns whether there was something to remove."""
    key, _created = device_keys.load_or_create()
    me = await api.me()
    removed = False
    try:
        await api.keys.remove(key.device_id)
        removed = True
    except CliError:
        pass  # not published on this account: nothing to remove there
    return accounts.remove(api.server, int(me["id"])) or removed


__all__ = ["FIRST_USE", "VERIFIED", "PeerKeys", "Published", "Safety"]
