"""Console sign-in and sign-out in real Chromium against `aijia serve`'s ConsoleServer: the
password goes through the facade, sign-out revokes the token, lock-out, CSRF on both forms,
no open redirect, and a disabled account's live session ends at its next click."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from agent.serve.app import COOKIE
from agent.serve.auth import WRONG, local_target
from agent.serve.pages import FORGED
from tests.gates.conftest import PASSWORD


def _fill(page: Page, name: str, password: str) -> None:
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _session_cookie(page: Page) -> dict[str, Any]:
    found = [c for c in page.context.cookies() if c["name"] == COOKIE]
    assert len(found) == 1, page.context.cookies()
    return dict(found[0])


def test_sign_in_shows_the_name_and_sign_out_kills_the_old_cookie(console: Any, page: Page):
    console.sign_in(page, "reviewer")
    expect(page).to_have_url(console.url + "/")
    expect(page.get_by_text("Signed in as")).to_contain_text("reviewer")
    cookie = _session_cookie(page)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(console.url + "/signin")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    expect(page.get_by_text("Signed in as")).to_have_count(0)

    # the cookie copied before signing out carries a revoked token: it proves nobody now
    page.context.clear_cookies()
    page.context.add_cookies([cookie])  # type: ignore[list-item]
    page.goto(console.url + "/")
    expect(page).to_have_url(console.url + "/signin?next=%2F")
    expect(page.get_by_role("alert")).to_contain_text("was revoked")
    tokens = console.gates.store.tokens_of("reviewer")
    console_tokens = [t for t in tokens if t.label == "console"]
    assert len(console_tokens) == 1 and console_tokens[0].revoked_at is not None


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(console: Any, page: Page):
    page.goto(console.url + "/signin")
    _fill(page, "reviewer", "not the password at all")
    expect(page.get_by_role("alert")).to_have_text(WRONG)
    expect(page.get_by_label("Name")).to_have_value("reviewer")
    _fill(page, "nobody-here", PASSWORD)
    expect(page.get_by_role("alert")).to_have_text(WRONG)
    expect(page.get_by_text("Signed in as")).to_have_count(0)


def test_lock_out_refuses_even_the_right_password(console: Any, page: Page):
    console.gates.settings.accounts.max_failed_logins = 2
    page.goto(console.url + "/signin")
    for _ in range(2):
        _fill(page, "reviewer", "wrong wrong wrong")
        expect(page.get_by_role("alert")).to_have_text(WRONG)
    _fill(page, "reviewer", PASSWORD)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("is locked until")
    expect(alert).to_contain_text("Hint:")
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    page.goto(console.url + "/")
    expect(page).to_have_url(console.url + "/signin?next=%2F")


def test_posts_without_a_csrf_token_are_refused(console: Any, page: Page):
    # login CSRF: a sign-in posted without the form's token signs nobody in
    refused = page.request.post(
        console.url + "/signin", form={"name": "reviewer", "password": PASSWORD, "next": "/"}
    )
    assert refused.status == 403 and refused.text() == FORGED
    forged = page.request.post(
        console.url + "/signin",
        form={"name": "reviewer", "password": PASSWORD, "csrf": "made-up"},
    )
    assert forged.status == 403
    page.goto(console.url + "/")
    expect(page).to_have_url(console.url + "/signin?next=%2F")

    console.sign_in(page, "reviewer")
    expect(page.get_by_text("Signed in as")).to_contain_text("reviewer")
    out = page.request.post(console.url + "/signout", form={})
    assert out.status == 403
    page.goto(console.url + "/")
    expect(page.get_by_text("Signed in as")).to_contain_text("reviewer")  # still signed in
    tokens = console.gates.store.tokens_of("reviewer")
    assert [t.revoked_at for t in tokens if t.label == "console"] == [None]


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:1"]
)
def test_next_never_leaves_the_console(console: Any, page: Page, target: str):
    page.goto(console.url + "/signin")
    page.locator("input[name=next]").evaluate("(el, value) => el.value = value", target)
    _fill(page, "reviewer", PASSWORD)
    expect(page).to_have_url(console.url + "/")
    expect(page.get_by_text("Signed in as")).to_contain_text("reviewer")


def test_next_brings_a_signed_out_visitor_back_where_they_were(console: Any, page: Page):
    page.goto(console.url + "/?mine=1")
    expect(page).to_have_url(console.url + "/signin?next=%2F%3Fmine%3D1")
    _fill(page, "reviewer", PASSWORD)
    expect(page).to_have_url(console.url + "/?mine=1")


def test_local_target_keeps_only_paths_of_this_console() -> None:
    assert local_target("/gates/g-1?x=1") == "/gates/g-1?x=1"
    for bad in ("", None, "gates", "//evil", "///evil", "/\\evil", "http://x/", "/a\nb", "\\\\x"):
        assert local_target(bad) == "/", bad


def test_a_disabled_account_is_signed_out_at_its_next_request(console: Any, page: Page):
    console.sign_in(page, "reviewer")
    expect(page.get_by_text("Signed in as")).to_contain_text("reviewer")
    aijia = console.gates.aijia
    console.gates._run(aijia.set_user_enabled("reviewer", enabled=False, by="admin"))
    page.goto(console.url + "/")
    expect(page).to_have_url(console.url + "/signin?next=%2F")
    expect(page.get_by_role("alert")).to_contain_text("the account 'reviewer' is disabled")
    # and it cannot sign in again while disabled
    _fill(page, "reviewer", PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("is disabled")
    expect(page.get_by_text("Signed in as")).to_have_count(0)
