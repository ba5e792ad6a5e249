"""The web page in Korean and Japanese (issue 28), in a real headless Chromium.

A browser whose language is Korean or Japanese (Playwright's context locale sets
navigator.languages and Accept-Language, as --lang does) gets the page in that language: the
login form, the rooms, the chat, the call buttons, the daemon's errors; no English word is left
on those screens but names. The switch at the top changes the words at once and is kept: in
the account when logged in (a reload or another browser speaks it), in this browser before.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from browser_helpers import TIMEOUT_MS, browser, enter_recovery
from transfer_helpers import Background, make_room, member, random_file
from videonet_protocol import protocol
from web_transfer_helpers import two_people

from conftest import TEST_PASSWORD, Daemon, User, http

pytestmark = pytest.mark.one_pass("browser: the API tests cover its database paths")

__all__ = ["browser"]

# What each screen must say, by element: index.html's words and those the scripts write.
WORDS = {
    "ko": {
        "login": {"#login-view h2": "로그인", "#login-form button": "로그인"},
        "login_labels": ["이메일", "비밀번호"],
        "rooms": {
            "#rooms-view h2": "방",
            "#create-room-form button": "만들기",
            "#logout": "로그아웃",
        },
        "placeholder": "새 방 이름",
        "open": "열기",
        "room": {
            "#back": "← 방 목록",
            "#chat-form button": "보내기",
            "#send-form button": "파일 보내기",
            "#send-folder-form button": "폴더 보내기",
            "#join-call": "통화 참여",
            "aside h3": "온라인",
            "#connection": "연결됨",
        },
        "leave": "통화 나가기",
        "call_labels": ["카메라", "마이크"],
        "message": "메시지",
        "wrong_password": "이메일 또는 비밀번호가 틀렸습니다.",
        "members": "멤버 1명",
    },
    "ja": {
        "login": {"#login-view h2": "ログイン", "#login-form button": "ログイン"},
        "login_labels": ["メールアドレス", "パスワード"],
        "rooms": {
            "#rooms-view h2": "ルーム",
            "#create-room-form button": "作成",
            "#logout": "ログアウト",
        },
        "placeholder": "新しいルーム名",
        "open": "開く",
        "room": {
            "#back": "← ルーム一覧",
            "#chat-form button": "送信",
            "#send-form button": "ファイルを送信",
            "#send-folder-form button": "フォルダーを送信",
            "#join-call": "通話に参加",
            "aside h3": "オンライン",
            "#connection": "接続済み",
        },
        "leave": "通話から退出",
        "call_labels": ["カメラ", "マイク"],
        "message": "メッセージ",
        "wrong_password": "メールアドレスまたはパスワードが違います。",
        "members": "メンバー 1 人",
    },
}
# Latin words a Korean or Japanese screen may show: the product's name, the switch's
# "English", units, the recovery key's XXXX-XXXX form. Names of people and rooms are added
# per test.
ALLOWED = {"VideoNet", "English", "MB", "kB", "GB", "SHA", "XXXX"}
LATIN = re.compile(r"[A-Za-z]{2,}")


def page_in(browser: Any, daemon: Daemon, locale: str) -> Any:
    """A fresh context whose browser language is `locale`, on the daemon's page."""
    context = browser.new_context(
        base_url=daemon.url, locale=locale, viewport={"width": 1100, "height": 800}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto("/")
    return page


def text_of(page: Any, selector: str) -> str:
    return str(page.inner_text(selector)).strip()


def english_left(page: Any, allowed: set[str]) -> list[str]:
    """Latin words in what the page shows (visible text, placeholders, labels for assistive
    technology) that are not in `allowed`. What people typed or named (the page isolates each
    such string in a <bdi>, or an online list's item) is not the page's own words."""
    shown, names = page.evaluate(
        """() => {
          const parts = [document.body.innerText];
          for (const el of document.querySelectorAll('[placeholder], [aria-label], [title]')) {
            if (el.closest('[hidden]')) continue;
            for (const a of ['placeholder', 'aria-label', 'title']) {
              parts.push(el.getAttribute(a) || '');
            }
          }
          const names = [...document.querySelectorAll('bdi, .who, #whoami')];
          return [parts.join('\\n'), names.map((e) => e.textContent).join(' ')];
        }"""
    )
    allowed = allowed | set(LATIN.findall(names))
    return sorted({w for w in LATIN.findall(shown) if w not in allowed})


def wait_words(page: Any, selector: str, words: str) -> None:
    page.wait_for_function(
        "([s, w]) => document.querySelector(s)?.textContent.trim() === w",
        arg=[selector, words],
    )


def log_in_form(page: Any, user: User, password: str = TEST_PASSWORD) -> None:
    page.fill("#login-form input[name=email]", user.email)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form button[type=submit]")


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_login_rooms_chat_and_call_in_the_browsers_language(
    daemon: Daemon, tmp_path: Path, browser: Any, language: str
) -> None:
    words = WORDS[language]
    alice = member(daemon, tmp_path)
    room = make_room(daemon, alice, "lang")
    room_name = http("GET", daemon.api(f"/api/rooms/{room}"), token=alice.user.token)[1]["name"]
    names = set(LATIN.findall(f"{alice.user.username} {room_name}"))
    page = page_in(browser, daemon, {"ko": "ko-KR", "ja": "ja-JP"}[language])

    # The login form, before anyone is known: the browser's language.
    page.wait_for_selector("#login-view:not([hidden])")
    assert page.evaluate("document.documentElement.lang") == language
    for selector, expected in words["login"].items():
        assert text_of(page, selector) == expected, selector
    labels = page.eval_on_selector_all(
        "#login-form label span", "els => els.map(e => e.textContent)"
    )
    assert labels == words["login_labels"]
    assert page.input_value("#language") == language
    assert english_left(page, ALLOWED) == []

    # A wrong password: the daemon's message in the page's language.
    log_in_form(page, alice.user, "not the password")
    page.wait_for_selector("#status.error")
    assert text_of(page, "#status") == words["wrong_password"]

    log_in_form(page, alice.user)
    page.wait_for_selector("#rooms-view:not([hidden])")
    for selector, expected in words["rooms"].items():
        assert text_of(page, selector) == expected, selector
    assert (
        page.get_attribute("#create-room-form input[name=name]", "placeholder")
        == words["placeholder"]
    )
    item = f"#room-list li[data-room-id='{room}']"
    assert text_of(page, f"{item} button") == words["open"]
    assert text_of(page, f"{item} .muted") == words["members"]
    page.wait_for_selector("#device-status:not(:empty)")
    assert english_left(page, ALLOWED | names) == []

    # The room: chat, presence, the call's buttons.
    page.click(f"{item} button")
    page.wait_for_selector("#room-view:not([hidden])")
    wait_words(page, "#connection", words["room"]["#connection"])
    for selector, expected in words["room"].items():
        assert text_of(page, selector) == expected, selector
    labels = page.eval_on_selector_all(
        ".call-controls label span", "els => els.map(e => e.textContent)"
    )
    assert labels == words["call_labels"]
    assert page.get_attribute("#chat-form input[name=text]", "placeholder") == words["message"]
    page.fill("#chat-form input[name=text]", "안녕 こんにちは")
    page.click("#chat-form button[type=submit]")
    page.wait_for_selector("#messages .text:text('안녕 こんにちは')")
    assert english_left(page, ALLOWED | names) == []

    page.click("#join-call")
    page.wait_for_selector("#leave-call:not([hidden])")
    assert text_of(page, "#leave-call") == words["leave"]
    page.wait_for_selector(".tile.local")
    assert english_left(page, ALLOWED | names) == []
    page.click("#leave-call")
    page.wait_for_selector("#join-call:not([hidden])")
    assert page.errors == []
    page.context.close()


def test_the_switch_changes_the_words_and_the_account_keeps_them(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    alice = member(daemon, tmp_path)
    page = page_in(browser, daemon, "en-US")
    page.wait_for_selector("#login-view:not([hidden])")
    assert text_of(page, "#login-view h2") == "Log in"
    options = page.eval_on_selector_all("#language option", "els => els.map(e => e.textContent)")
    assert options == ["English", "한국어", "日本語"]

    # Before logging in, the choice is this browser's: it survives a reload.
    page.select_option("#language", "ja")
    wait_words(page, "#login-view h2", "ログイン")
    assert page.evaluate("document.documentElement.lang") == "ja"
    page.reload()
    wait_words(page, "#login-view h2", "ログイン")

    # Logging in with no language saved: the browser's choice becomes the account's.
    log_in_form(page, alice.user)
    page.wait_for_selector("#rooms-view:not([hidden])")
    assert text_of(page, "#rooms-view h2") == "ルーム"
    saved = http("GET", daemon.api(protocol.API_ME_LANGUAGE), token=alice.user.token)[1]
    assert saved == {"language": "ja"}

    # Switched while logged in: the words change at once, and the account keeps the choice.
    page.select_option("#language", "ko")
    wait_words(page, "#rooms-view h2", "방")
    assert text_of(page, "#create-room-form button") == "만들기"
    assert page.get_attribute("#create-room-form input[name=name]", "placeholder") == "새 방 이름"
    saved = http("GET", daemon.api(protocol.API_ME_LANGUAGE), token=alice.user.token)[1]
    assert saved == {"language": "ko"}
    page.reload()
    page.wait_for_selector("#rooms-view:not([hidden])")
    wait_words(page, "#rooms-view h2", "방")
    assert page.evaluate("document.documentElement.lang") == "ko"

    # Another browser, in English, logging in as alice: the account's language wins.
    other = page_in(browser, daemon, "en-US")
    other.wait_for_selector("#login-view:not([hidden])")
    assert text_of(other, "#login-view h2") == "Log in"
    log_in_form(other, alice.user)
    other.wait_for_selector("#rooms-view:not([hidden])")
    wait_words(other, "#rooms-view h2", "방")

    # Back to English from the switch: everything English again.
    page.select_option("#language", "en")
    wait_words(page, "#rooms-view h2", "Rooms")
    assert text_of(page, "#logout") == "Log out"
    assert page.evaluate("document.documentElement.lang") == "en"
    assert http("GET", daemon.api(protocol.API_ME_LANGUAGE), token=alice.user.token)[1] == {
        "language": "en"
    }
    assert page.errors == [] and other.errors == []
    page.context.close()
    other.context.close()


def test_a_new_room_and_its_messages_in_japanese(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    alice = member(daemon, tmp_path)
    page = page_in(browser, daemon, "ja-JP")
    log_in_form(page, alice.user)
    page.wait_for_selector("#rooms-view:not([hidden])")
    name = f"部屋-{uuid.uuid4().hex[:6]}"
    page.fill("#create-room-form input[name=name]", name)
    page.click("#create-room-form button[type=submit]")
    page.wait_for_selector("#room-view:not([hidden])")
    wait_words(page, "#connection", "接続済み")
    assert text_of(page, "#room-name") == name
    # The daemon's refusal of a name already taken, in Japanese.
    page.click("#back")
    page.wait_for_selector("#rooms-view:not([hidden])")
    page.fill("#create-room-form input[name=name]", name)
    page.click("#create-room-form button[type=submit]")
    page.wait_for_selector("#status.error")
    assert text_of(page, "#status") == f"'{name}' という名前のルームは既にあります"
    assert page.errors == []
    page.context.close()


@pytest.mark.parametrize("language", ["ko", "ja"])
def test_an_invite_links_sign_up_form_in_the_browsers_language(
    daemon: Daemon, browser: Any, language: str
) -> None:
    page = page_in(browser, daemon, {"ko": "ko-KR", "ja": "ja-JP"}[language])
    page.goto(f"/#join={daemon.mint_invite()}")
    page.reload()
    page.wait_for_selector("#join-view:not([hidden])")
    title = {"ko": "초대로 참여하기", "ja": "招待で参加"}[language]
    wait_words(page, "#join-view h2", title)
    assert english_left(page, ALLOWED) == []

    # A line the page wrote (two passwords that differ) is written again in the language the
    # switch picks, not left in the old one until something else happens.
    page.fill("#join-form input[name=email]", "someone@example.test")
    page.fill("#join-form input[name=username]", "someone")
    page.fill("#join-form input[name=password]", "correct horse 1")
    page.fill("#join-form input[name=again]", "correct horse 2")
    page.click("#join-form button[type=submit]")
    mismatch = {"en": "the two passwords do not match", "ko": "두 비밀번호가 일치하지 않습니다",
                "ja": "2 つのパスワードが一致しません"}  # fmt: skip
    wait_words(page, "#status", mismatch[language])
    other = "ja" if language == "ko" else "ko"
    for switched in (other, "en"):
        page.select_option("#language", switched)
        wait_words(page, "#status", mismatch[switched])
    assert page.errors == []
    page.context.close()


def test_the_device_trust_and_receive_views_in_korean(
    daemon: Daemon, tmp_path: Path, browser: Any
) -> None:
    two = two_people(daemon, tmp_path)
    page = page_in(browser, daemon, "ko-KR")
    log_in_form(page, two.alice)
    page.wait_for_selector("#recovery-form:not([hidden])")
    status = text_of(page, "#device-status")
    assert (
        status.startswith("이 브라우저에서는 파일 전송을 할 수 없습니다: ") and "복구 키" in status
    )
    assert page.get_attribute("#recovery-form input", "placeholder") == "복구 키 (XXXX-XXXX-…)"
    assert text_of(page, "#recovery-form button") == "이 브라우저 연결"
    enter_recovery(page, "AAAA-BBBB")
    page.wait_for_selector("#status.error")
    assert text_of(page, "#status") == "복구 키가 아닙니다 (영문자와 숫자 4개씩 14묶음)"
    enter_recovery(page, two.recovery)
    page.wait_for_selector("#device-status:not(.error)")
    assert "의 연결된 기기입니다" in text_of(page, "#device-status")

    page.click(f"#room-list li[data-room-id='{two.room}'] button")
    wait_words(page, "#connection", "연결됨")
    source = random_file(tmp_path / "take.bin", 1500)
    send = Background(two.bob.cli, "send", two.room, str(source), "--trust-new", "--json")
    page.wait_for_selector("li.offer button.take")
    offer = text_of(page, "li.offer")
    assert "님의 제안: take.bin, 1.5 kB — 보낸 사람 " in offer and "신원 고정됨" in offer, offer
    assert text_of(page, "li.offer button.take") == "받기"
    page.click("li.offer button.take")
    link = page.wait_for_selector("li.offer.verified a.save", timeout=60_000)
    assert link.inner_text() == "저장: take.bin"
    assert "✓ 검증 완료 (보낸 사람이 봉인한 SHA-256과 일치):" in text_of(page, "li.offer")
    assert send.finish(timeout=90) == 0, send.stderr()
    label = page.evaluate(
        "() => document.querySelector('li.offer .offer-text').textContent.match(/기기 (.*?),/)[1]"
    )
    # This browser's fingerprint (a code) in the device line.
    fingerprint = re.findall(r"\(([^)]*)\)", text_of(page, "#device-status"))
    names = set(LATIN.findall(f"{label} take.bin {' '.join(fingerprint)}"))
    assert english_left(page, ALLOWED | names) == []
    assert page.errors == []
    page.context.close()
