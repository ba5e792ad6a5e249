"""What checking one chat message's payload costs, per message, for the candidates of issue 22's
"bodies declared once": today's hand-written checks, the contract's TypedDict with `Text` rules
read by a generic checker (the `schema_of` road), pydantic v2 and msgspec. Prints µs per
message and the ratio to today's checks (the same run, the same machine).

    PYTHONPATH=src python bench/validation.py [--msgspec-path DIR]

msgspec is not a dependency: give a directory it is installed in (`pip install --target DIR
msgspec`) to include it.
"""

# Annotations evaluated at once: pydantic and msgspec read the classes made inside main().
import argparse
import sys
import timeit
from typing import Annotated, Any, TypedDict

from videonet_daemon.chat.service import check_text
from videonet_daemon.rooms.guard import room_id_of
from videonet_daemon.validation import check_value, get_body
from videonet_protocol import protocol

PAYLOAD = {"room_id": "0f3c2a9e4b7d4c1e8a6f5b2d9c0e1a3b", "text": "hello there, " * 8}
ROUNDS = 20_000


class ChatSend(TypedDict):
    room_id: Annotated[str, protocol.Text(protocol.ROOM_ID_MAX_CHARS)]
    text: Annotated[str, protocol.Text(protocol.CHAT_MAX_CHARS, allow_newlines=True)]


def today(data: dict[str, Any]) -> None:
    check_value(data)
    room_id_of(data)
    check_text(data.get("text"), protocol.CHAT_MAX_CHARS)


def contract(data: dict[str, Any]) -> None:
    check_value(data)
    get_body(data, ChatSend)


def per_message(fn: Any) -> float:
    return min(timeit.repeat(lambda: fn(PAYLOAD), number=ROUNDS, repeat=5)) / ROUNDS * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--msgspec-path")
    args = parser.parse_args()
    candidates = {"today (check_value, room_id_of, check_text)": today}
    candidates["contract TypedDict + Text, generic get_body"] = contract

    import pydantic
    import typing_extensions

    # pydantic refuses typing.TypedDict (the contract's) before Python 3.12.
    class PydanticChat(typing_extensions.TypedDict):
        room_id: Annotated[str, pydantic.StringConstraints(min_length=1, max_length=64)]
        text: Annotated[str, pydantic.StringConstraints(max_length=4000)]

    adapter = pydantic.TypeAdapter(PydanticChat)
    candidates[f"pydantic {pydantic.VERSION} TypeAdapter.validate_python"] = adapter.validate_python
    if args.msgspec_path:
        sys.path.insert(0, args.msgspec_path)
        import msgspec

        class MsgspecChat(msgspec.Struct):
            room_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
            text: Annotated[str, msgspec.Meta(max_length=4000)]

        candidates[f"msgspec {msgspec.__version__} convert"] = lambda d: msgspec.convert(
            d, MsgspecChat
        )
    base = None
    for name, fn in candidates.items():
        cost = per_message(fn)
        base = base or cost
        print(f"{cost:7.2f} µs/message  {cost / base:5.2f}x  {name}")


if __name__ == "__main__":
    main()
