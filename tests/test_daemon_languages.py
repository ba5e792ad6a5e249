"""The daemon's error messages in the person's language (issue 28), against a real daemon.

The language of an answer: the account's saved language (PUT /api/auth/me/language) when the
request is authenticated and one is saved, else the best of Accept-Language, else English. The
error `code` and the status never change; anything unknown, huge or garbled is English, and
never a 500. The page's catalogues (/static/i18n-LANG.json) come from the compiled .mo files.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import socketio

from chatkit import connect
from videonet_protocol import protocol
from videonet_protocol.i18n import LANGUAGE_NAMES

from conftest import Daemon, User

# An unauthenticated request for the caller's account: 401, the base class's message.
AUTH = {
    "en": "Authentication required: log in first.",
    "ko": "인증이 필요합니다. 먼저 로그인하십시오.",
    "ja": "認証が必要です。先にログインしてください。",
}
# A room that does not exist (a message with a field, filled after translating).
NO_ROOM = {
    "en": "no room with id {room}",
    "ko": "ID가 {room}인 방이 없습니다",
    "ja": "ID が {room} のルームはありません",
}


def call(
    daemon: Daemon,
    method: str,
    path: str,
    *,
    body: Any = None,
    raw: bytes | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(daemon.api(path), data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            payload, status, got = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        payload, status, got = exc.read(), exc.code, dict(exc.headers)
    try:
        decoded = json.loads(payload) if payload else None
    except ValueError:
        decoded = None
    return status, decoded, got


def error(payload: Any) -> tuple[str, str]:
    assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}, payload
    return str(payload["error"]["code"]), str(payload["error"]["message"])


@pytest.fixture(scope="module")
def account(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> User:
    return daemon.make_user(tmp_path_factory.mktemp("languages"))


@pytest.mark.parametrize(
    ("accept", "language"),
    [
        ("ko", "ko"),
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
        ("ja", "ja"),
        ("ja-JP", "ja"),
        ("fr-FR,de;q=0.9,ja;q=0.5", "ja"),  # the best one the daemon speaks
        ("en-GB,ko;q=0.9", "en"),
        ("fr-FR", "en"),  # unknown: English, silently
        ("", "en"),
        ("*;q=abc, ;;;, ko;q=nan, ==", "en"),  # garbage
        ("ko;q=0", "en"),  # refused outright
        ("ja, " + "x-" * 2500, "en"),  # 5 kB: too long to be a real one, English
    ],
)
def test_an_error_speaks_the_accept_language(daemon: Daemon, accept: str, language: str) -> None:
    status, body, _ = call(daemon, "GET", protocol.API_ME, headers={"Accept-Language": accept})
    assert status == 401 and error(body) == ("unauthenticated", AUTH[language])


@pytest.mark.parametrize("language", ["en", "ko", "ja"])
def test_fields_are_filled_in_after_translating(
    daemon: Daemon, account: User, language: str
) -> None:
    room = uuid.uuid4().hex
    status, body, _ = call(
        daemon,
        "GET",
        protocol.API_ROOM.format(room_id=room),
        token=account.token,
        headers={"Accept-Language": language},
    )
    assert status == 404 and error(body) == ("not_found", NO_ROOM[language].format(room=room))


def test_the_daemons_own_answers_speak_it_too(daemon: Daemon) -> None:
    # An unknown path: aiohttp's own 404, in the JSON shape and the language.
    status, body, _ = call(daemon, "GET", "/api/no-such-thing", headers={"Accept-Language": "ja"})
    assert status == 404 and error(body) == ("not_found", "見つかりません")
    status, body, _ = call(
        daemon, "POST", protocol.API_LOGIN, raw=b"{not json", headers={"Accept-Language": "ko"}
    )
    assert status == 400 and error(body) == ("invalid_json", "요청 본문은 JSON 객체여야 합니다.")


def test_a_header_too_large_or_not_text_is_no_500(daemon: Daemon) -> None:
    # Over aiohttp's 8 KiB line limit: the parser refuses it, in English, and the daemon serves on.
    status, body, _ = call(daemon, "GET", protocol.API_ME, headers={"Accept-Language": "ko" * 6000})
    assert status in (400, 431) and body is not None and error(body)[1].isascii(), body
    status, body, _ = call(
        daemon, "GET", protocol.API_ME, headers={"Accept-Language": "ko\xff\xfe"}
    )
    assert status == 401 and error(body) == ("unauthenticated", AUTH["en"])
    status, body, _ = call(daemon, "GET", protocol.API_ME, headers={"Accept-Language": "ko"})
    assert status == 401 and error(body)[1] == AUTH["ko"]


def test_the_accounts_language_wins_over_the_browsers(
    daemon: Daemon, tmp_path_factory: pytest.TempPathFactory
) -> None:
    user = daemon.make_user(tmp_path_factory.mktemp("saved"))
    me = protocol.API_ME_LANGUAGE
    assert call(daemon, "GET", me, token=user.token)[:2] == (200, {"language": None})
    status, body, _ = call(daemon, "PUT", me, body={"language": "ja"}, token=user.token)
    assert (status, body) == (200, {"language": "ja"})
    assert call(daemon, "GET", me, token=user.token)[:2] == (200, {"language": "ja"})
    room = uuid.uuid4().hex
    path = protocol.API_ROOM.format(room_id=room)
    status, body, _ = call(daemon, "GET", path, token=user.token, headers={"Accept-Language": "ko"})
    assert status == 404 and error(body) == ("not_found", NO_ROOM["ja"].format(room=room))
    # The answer to the change itself speaks the new language; null gives the choice back.
    status, body, _ = call(daemon, "PUT", me, body={"language": None}, token=user.token)
    assert (status, body) == (200, {"language": None})
    status, body, _ = call(daemon, "GET", path, token=user.token, headers={"Accept-Language": "ko"})
    assert status == 404 and error(body)[1] == NO_ROOM["ko"].format(room=room)
    status, body, _ = call(daemon, "PUT", me, body={"language": "en"}, token=user.token)
    assert (status, body) == (200, {"language": "en"})
    status, body, _ = call(daemon, "GET", path, token=user.token, headers={"Accept-Language": "ko"})
    assert status == 404 and error(body)[1] == NO_ROOM["en"].format(room=room)


@pytest.mark.parametrize(
    "sent",
    [
        {"language": "fr"},
        {"language": "KO"},
        {"language": "ko_KR"},
        {"language": 5},
        {"language": ["ko"]},
        {"language": ""},
        {},
    ],
)
def test_a_bad_language_is_one_line_and_nothing_saved(
    daemon: Daemon, account: User, sent: dict[str, Any]
) -> None:
    me = protocol.API_ME_LANGUAGE
    assert call(daemon, "PUT", me, body={"language": "ko"}, token=account.token)[0] == 200
    status, body, _ = call(daemon, "PUT", me, body=sent, token=account.token)
    code, message = error(body)
    assert status == 400 and code == "validation_error" and "\n" not in message
    assert "language" in message  # the field's name stays as it is, in Korean too
    assert call(daemon, "GET", me, token=account.token)[:2] == (200, {"language": "ko"})
    status, body, _ = call(daemon, "PUT", me, body={"language": None}, token=account.token)
    assert status == 200


def test_saving_a_language_needs_a_login(daemon: Daemon) -> None:
    for method in ("GET", "PUT"):
        status, body, _ = call(
            daemon,
            method,
            protocol.API_ME_LANGUAGE,
            body={"language": "ko"},
            headers={"Accept-Language": "ja"},
        )
        assert status == 401 and error(body) == ("unauthenticated", AUTH["ja"])


def test_a_sockets_refusals_speak_its_language(
    daemon: Daemon, tmp_path_factory: pytest.TempPathFactory
) -> None:
    user = daemon.make_user(tmp_path_factory.mktemp("socket"))
    me = protocol.API_ME_LANGUAGE
    assert call(daemon, "PUT", me, body={"language": "ko"}, token=user.token)[0] == 200

    room = uuid.uuid4().hex

    async def run() -> tuple[Any, Any, list[Any]]:
        peer = await connect(daemon, user)  # its account speaks Korean from the connection on
        send = {"room_id": room, "text": "hi"}
        try:
            ack = await peer.sio.call(protocol.EV_CHAT_SEND, send, timeout=15)
            # The account switches to Japanese: the open connection follows at once.
            switched = await asyncio.to_thread(
                call, daemon, "PUT", me, body={"language": "ja"}, token=user.token
            )
            assert switched[0] == 200
            later = await peer.sio.call(protocol.EV_CHAT_SEND, send, timeout=15)
        finally:
            await peer.close()
        refused = socketio.AsyncClient(reconnection=False)
        said: list[Any] = []
        refused.on("connect_error", lambda data: said.append(data))
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(
                daemon.url,
                auth={"token": "not-a-token"},
                headers={"Accept-Language": "ja"},
                socketio_path=protocol.SOCKET_PATH,
                transports=["websocket"],
                wait_timeout=15,
            )
        return ack, later, said

    ack, later, said = asyncio.run(run())
    assert ack == {
        "ok": False,
        "error": {"code": "not_found", "message": NO_ROOM["ko"].format(room=room)},
    }
    assert later["error"] == {"code": "not_found", "message": NO_ROOM["ja"].format(room=room)}
    # engine.io's connect_error: {"message": ..., "data": ErrorBody}.
    assert said == [
        {
            "message": "無効なトークンです",
            "data": {"code": "unauthenticated", "message": "無効なトークンです"},
        }
    ], said


def test_the_page_gets_each_catalogue_with_an_etag(daemon: Daemon) -> None:
    for language in ("en", "ko", "ja"):
        status, body, headers = call(daemon, "GET", f"/static/i18n-{language}.json")
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert body["language"] == language and body["languages"] == dict(LANGUAGE_NAMES)
        etag = headers["ETag"]
        status, _, again = call(
            daemon, "GET", f"/static/i18n-{language}.json", headers={"If-None-Match": etag}
        )
        assert status == 304 and again["ETag"] == etag
    ko = call(daemon, "GET", "/static/i18n-ko.json")[1]
    assert ko["messages"]["Log in"] == "로그인" and ko["plurals"]["{n} member"] == ["멤버 {n}명"]
    assert call(daemon, "GET", "/static/i18n-en.json")[1]["messages"] == {}
    ja = call(daemon, "GET", "/static/i18n-ja.json")[1]
    assert ja["messages"]["Join call"] == "通話に参加"
    assert call(daemon, "GET", "/static/i18n-fr.json")[0] == 404
    # The page's language switch: each language's own name, written in by the daemon.
    req = urllib.request.Request(daemon.url + "/")
    with urllib.request.urlopen(req, timeout=30) as resp:
        page = resp.read().decode()
    for code, name in LANGUAGE_NAMES.items():
        assert f'<option value="{code}" lang="{code}">{name}</option>' in page


def test_error_codes_and_statuses_are_the_same_in_every_language(
    daemon: Daemon, account: User
) -> None:
    seen = set()
    for language in ("en", "ko", "ja"):
        answers = [
            call(daemon, "GET", protocol.API_ME, headers={"Accept-Language": language}),
            call(
                daemon,
                "POST",
                protocol.API_ROOM_CREATE,
                body={"name": ""},
                token=account.token,
                headers={"Accept-Language": language},
            ),
            call(daemon, "DELETE", protocol.API_LOGIN, headers={"Accept-Language": language}),
        ]
        seen.add(tuple((status, error(body)[0]) for status, body, _ in answers))
    # The codes are what scripts match on: never translated.
    assert len(seen) == 1, seen


# --- every message is marked ---------------------------------------------------------------
SRC = Path(__file__).resolve().parent.parent / "src"
STATIC = SRC / "videonet_daemon" / "web" / "static"


def _api_errors() -> set[str]:
    tree = ast.parse((SRC / "videonet_daemon" / "errors.py").read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)} | {"BadName"}


def _wordy(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return sum(ch.isalpha() for ch in node.value) >= 2
    return isinstance(node, ast.JoinedStr)


def test_every_daemon_message_is_marked_for_the_catalogue() -> None:
    """An error built from an English literal (or an f-string) instead of an N_ template
    would reach people untranslated: this lists each one, by file and line."""
    errors = _api_errors()
    found = []
    paths = [*(SRC / "videonet_daemon").rglob("*.py"), *(SRC / "videonet_protocol").rglob("*.py")]
    for path in sorted(paths):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id in errors and any(_wordy(arg) for arg in node.args):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)[:70]}")
    assert found == [], "\n".join(found)


# A sentence handed to the page's DOM or errors without t(...): `textContent = "..."`,
# `new Error("...")`, `status("...")`, `notice("...")`, `el(tag, class, "...")`.
_UNMARKED_JS = re.compile(
    r"""(?:textContent\s*=\s*|(?:Error|status|notice)\(\s*|\bel\([^()]*?,[^()]*?,\s*)"""
    r"""(["'`])(?=(?:(?!\$\{)[^"'`])*[A-Za-z]{2})"""
)


def test_every_word_of_the_page_is_marked_for_the_catalogue() -> None:
    # The checker itself: it finds an unmarked sentence and passes a marked one.
    assert _UNMARKED_JS.search('status("cannot connect", true);')
    assert _UNMARKED_JS.search("line.textContent = ` offers ${what}`;")
    assert not _UNMARKED_JS.search('status(t("cannot connect"), true);')
    assert not _UNMARKED_JS.search('line.textContent = ` — ${t("resuming…")}`;')
    found = []
    for path in sorted(STATIC.glob("*.js")):
        if path.name.endswith(".min.js"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _UNMARKED_JS.search(line):
                found.append(f"{path.name}:{number}: {line.strip()[:80]}")
    assert found == [], "\n".join(found)


def test_a_phrase_given_as_a_field_is_translated_with_its_sentence() -> None:
    from videonet_daemon.i18n import Phrase, translate
    from videonet_daemon.relay.service import state_word

    sentence = "the transfer is {state}, not waiting for data"
    aborted = state_word(protocol.TransferState.ABORTED)
    assert isinstance(aborted, Phrase)
    assert translate(sentence, "en", {"state": aborted}) == (
        "the transfer is aborted, not waiting for data"
    )
    assert translate(sentence, "ko", {"state": aborted}) == (
        "전송 상태가 취소됨입니다. 데이터를 기다리는 중이 아닙니다"
    )
    assert translate(sentence, "ja", {"state": aborted}) == (
        "転送の状態は「中止」で、データを待っていません"
    )
    # A translation whose fields do not fit is never shown broken: English instead.
    assert translate("{name} must be a string", "ko", {"other": 1}) == "{name} must be a string"
