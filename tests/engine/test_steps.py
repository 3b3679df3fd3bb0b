"""Steps in real Chromium against the local back office: selectors, navigation, waits,
retries, challenge hand-off, control flow, TOTP and masking."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pyotp
import pytest

from agent import RunResult
from agent.core.states import RunState
from agent.recipes.model import load_recipe
from tests.conftest import TEST_USERS, aijia_for
from tests.engine.conftest import RECIPES, RUNNER


@pytest.fixture
def write_recipe(tmp_path: Path) -> Any:
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "login.yaml").write_text((RECIPES / "local" / "login.yaml").read_text())

    def write(body: str, name: str = "case") -> Path:
        path = folder / f"{name}.yaml"
        path.write_text(f"name: {name}\nsite: local\n" + textwrap.dedent(body))
        return path

    return write


@pytest.fixture
def go(run, aijia) -> Any:
    def go(path: Path, inputs: dict[str, Any] | None = None, **kw: Any) -> RunResult:
        recipe = load_recipe(path)
        return run(aijia.run(recipe, inputs or {}, as_user=RUNNER, **kw))

    return go


def events(store: Any, result: RunResult, kind: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in store.events(result.run_id) if e.kind == kind]


def test_strict_selector_names_the_matches_and_nth_picks_one(write_recipe, go, local_site):
    path = write_recipe("""\
        steps:
          - goto: /static
          - click: {role: button, name: Save, nth: 1}
            safe: true
          - click: {role: button, name: Save}
            safe: true
        """)
    result = go(path)
    assert result.state is RunState.FAILED
    assert result.error_step == "3"
    assert "role='button' name='Save' matched 2 elements, expected one" in result.error
    assert '<button> "Save"' in result.error
    assert "case.yaml:7:5" in result.error


def test_link_off_site_fails_the_step_and_is_recorded(write_recipe, go, store, local_site):
    path = write_recipe("""\
        steps:
          - goto: /static
          - click: {role: link, name: Partner site}
        """)
    result = go(path)
    assert result.state is RunState.FAILED
    assert "the page tried to leave the site: GET http://evil.example/steal" in result.error
    assert "case.yaml:5:5" in result.error
    blocked = events(store, result, "navigation_blocked")
    # one per attempt: a loaded machine may time the click out once and replay it from the goto
    assert len(blocked) == 1 + len(events(store, result, "steps_replayed")), blocked
    assert {(b["url"], b["frame"]) for b in blocked} == {("http://evil.example/steal", "main")}
    network = events(store, result, "network_blocked")
    assert {"kind": "navigation", "method": "GET", "target": "http://evil.example/steal"} in (
        network
    )


def test_goto_outside_the_site_is_refused_before_the_browser(write_recipe, go, store):
    path = write_recipe("""\
        steps:
          - goto: "data:text/html,<h1>x</h1>"
        """)
    result = go(path)
    assert result.state is RunState.FAILED
    assert "refused to open data:text/html" in result.error
    [blocked] = events(store, result, "navigation_blocked")
    assert blocked["url"].startswith("data:")
    assert not events(store, result, "network_blocked")


def test_transient_5xx_is_retried_with_backoff(write_recipe, go, store, local_site):
    local_site.state.flaky_left = 2
    path = write_recipe("""\
        steps:
          - goto: /flaky
          - expect: {text: Finally}
        """)
    result = go(path)
    assert result.state is RunState.DONE, result.error
    assert len(events(store, result, "step_retried")) == 2


def test_transient_5xx_gives_up_after_retries(write_recipe, go, local_site):
    local_site.state.flaky_left = 5
    path = write_recipe("""\
        steps:
          - goto: /flaky
            retries: 1
        """)
    result = go(path)
    assert result.state is RunState.FAILED
    assert "answered HTTP 500" in result.error


def test_wait_for_slow_content_then_extract(write_recipe, go, local_site):
    path = write_recipe("""\
        steps:
          - goto: /slow
          - wait_for: {visible: {testid: late}}
          - extract: {late: {testid: late}}
          - wait_for: {network_idle: true}
          - expect: {url: "**/slow"}
        outputs: {late: "{{ late }}"}
        """)
    result = go(path)
    assert result.state is RunState.DONE, result.error
    assert result.outputs == {"late": "Loaded late"}


def test_missing_element_fails_with_what_was_seen(write_recipe, go, local_site):
    path = write_recipe("""\
        steps:
          - goto: /static
          - extract: {total: {label: Grand total}}
            timeout: 0.5
        """)
    result = go(path)
    assert result.state is RunState.FAILED
    assert "extracting `total`: label='Grand total' matched nothing within 0.5s" in result.error
    assert "'Static'" in result.error  # the page title seen
    assert "hint:" in result.error


def test_select_names_the_available_options(write_recipe, go, local_site):
    path = write_recipe("""\
        steps:
          - goto: /static
          - select: {label: Colour, value: blue}
          - extract: {colour: {label: Colour}}
          - select: {label: Colour, value: Green}
        outputs: {colour: "{{ colour }}"}
        """)
    result = go(path)
    assert result.state is RunState.FAILED
    assert "no option 'Green'; it has: 'Red', 'Blue'" in result.error
    assert result.outputs == {"colour": "Blue"}


def test_challenge_page_hands_off_and_pauses_headless(write_recipe, go, store, local_site):
    local_site.state.challenge = True
    path = write_recipe("""\
        session: login
        steps:
          - goto: /orders
          - extract: {x: {label: Status}}
        """)
    result = go(path)
    assert result.state is RunState.PAUSED, result.error
    assert result.pause_reason == "handoff"
    assert result.exit_code == 3
    assert events(store, result, "challenge_detected")
    assert store.get_run(result.run_id).state is RunState.PAUSED


def test_control_flow_for_each_if_set_and_call(write_recipe, go, store, local_site):
    write_recipe(
        """\
        inputs:
          order_id: {type: string}
        steps:
          - goto: /orders/{{ inputs.order_id }}
          - extract: {status: {label: Status}}
        outputs: {status: "{{ status }}"}
        """,
        name="status_of",
    )
    path = write_recipe("""\
        session: login
        steps:
          - goto: /orders
          - extract:
              orders:
                table: {role: table, name: Orders}
                columns: {id: Order, status: Status, total: {header: Total, as: money}}
          - set: {seen: []}
          - for_each: "{{ orders }}"
            as: order
            max: 5
            steps:
              - if: "{{ order.status == 'Paid' }}"
                then:
                  - call: {recipe: status_of, with: {order_id: "{{ order.id }}"}, as: detail}
                  - set: {seen: "{{ seen + [detail.status] }}"}
                else:
                  - set: {seen: "{{ seen + ['skipped ' ~ order_index] }}"}
          - expect: "{{ seen | length == 2 }}"
        outputs: {seen: "{{ seen }}", first_total: "{{ orders[0].total }}"}
        """)
    result = go(path)
    assert result.state is RunState.DONE, result.error
    assert result.outputs == {
        "seen": ["Paid", "skipped 1"],
        "first_total": {"amount": 25.0, "currency": "USD"},
    }
    numbers = [e["step"] for e in events(store, result, "step_finished")]
    assert "4.1.1" in numbers  # nested steps are numbered by their position


def test_totp_code_is_typed_and_masked(write_recipe, go, store, local_site, monkeypatch):
    secret = pyotp.random_base32()
    monkeypatch.setenv("AIJIA_TEST_TOTP", secret)
    path = write_recipe("""\
        steps:
          - goto: /static
          - totp: {label: Code, secret: {$env: AIJIA_TEST_TOTP}}
          - extract: {typed: {label: Code}}
        outputs: {typed: "{{ typed }}"}
        """)
    result = go(path)
    assert result.state is RunState.DONE, result.error
    assert result.outputs == {"typed": "******"}
    everything = json.dumps([dict(e.data) for e in store.events(result.run_id)])
    assert secret not in everything


def test_when_skips_steps(write_recipe, go, store, local_site):
    path = write_recipe("""\
        inputs:
          fast: {type: boolean, default: true}
        steps:
          - goto: /static
          - extract: {never: {label: Nothing here}}
            when: "{{ not inputs.fast }}"
        """)
    result = go(path)
    assert result.state is RunState.DONE, result.error
    assert any(e["outcome"] == "skipped" for e in events(store, result, "step_finished"))


def test_headed_handoff_waits_for_the_human(
    write_recipe, run, chromium, settings, store, local_site
):
    import asyncio

    local_site.state.challenge = True
    path = write_recipe("""\
        session: login
        steps:
          - goto: /orders
          - expect: {visible: {role: heading, name: Orders}}
        """)

    async def human() -> None:
        # a person solves the challenge in the window the agent handed over
        for _ in range(100):
            for context in chromium.contexts:
                for page in context.pages:
                    if await page.get_by_role("heading", name="Security check").count():
                        await asyncio.sleep(1.0)  # people take a moment
                        local_site.state.challenge = False
                        await page.reload()
                        return
            await asyncio.sleep(0.1)

    async def both() -> Any:
        # headed, in the session's (headless) Chromium the facade was given, where `human()`
        # can reach the page it hands over
        aijia = aijia_for(settings, store, chromium, users=TEST_USERS)
        result, _ = await asyncio.gather(
            aijia.run(load_recipe(path), {}, as_user=RUNNER, headed=True), human()
        )
        return result

    result = run(both())
    assert result.state is RunState.DONE, result.error
    kinds = [e.kind for e in store.events(result.run_id)]
    assert "handoff_started" in kinds and "handoff_finished" in kinds


def test_explicit_handoff_step_pauses_headless(write_recipe, go, store, local_site):
    path = write_recipe("""\
        steps:
          - goto: /static
          - handoff: {message: Confirm the payout in the bank window}
        """)
    result = go(path)
    assert result.state is RunState.PAUSED and result.pause_reason == "handoff"
    pending = events(store, result, "handoff_pending")
    assert pending[0]["message"] == "Confirm the payout in the bank window"


def test_recipes_calling_each_other_in_a_circle_fail_clearly(write_recipe, go, local_site):
    write_recipe(
        """\
        steps:
          - call: ping
        """,
        name="pong",
    )
    path = write_recipe(
        """\
        steps:
          - goto: /static
          - call: pong
        """,
        name="ping",
    )
    result = go(path)
    assert result.state is RunState.FAILED
    assert "go round in a circle or too deep: pong -> ping -> pong" in (result.error or "")


def test_input_values_are_never_evaluated_as_templates(write_recipe, go, local_site):
    path = write_recipe("""\
        inputs:
          who: {type: string}
        steps:
          - goto: /static
          - extract: {found: {text: "{{ inputs.who }}", optional: true, default: absent}}
          - fill: {label: Code, value: "{{ inputs.who }}"}
          - extract: {typed: {label: Code}}
        outputs: {found: "{{ found }}", typed: "{{ typed }}"}
        """)
    result = go(path, {"who": "{{ 6 * 7 }}"})
    assert result.state is RunState.DONE, result.error
    assert result.outputs == {"found": "absent", "typed": "{{ 6 * 7 }}"}


def test_snapshot_and_screenshot_never_hold_the_password(write_recipe, go, store, local_site):
    from tests.engine.site import PASSWORD

    path = write_recipe("""\
        steps:
          - goto: /login
          - fill: {label: Username, value: "{{ site.credentials.username }}"}
          - fill: {label: Password, secret: password}
          - snapshot: login_form
          - screenshot: {label: login_form, highlight: {role: button, name: Sign in}}
          - goto: /static
          - fill: {placeholder: 6-digit code, secret: password}
          - snapshot: code_field
          - extract:
              price: {testid: price, within: {css: p}, as: money}
        outputs: {price: "{{ price }}"}
        """)
    result = go(path)
    assert result.state is RunState.DONE, result.error
    assert result.outputs == {"price": {"amount": 1299.0, "currency": "MYR"}}
    captured = [e for e in store.events(result.run_id) if e.kind == "page_captured"]
    assert [e.data["label"] for e in captured] == ["login_form", "login_form", "code_field"]
    for event in captured:
        for sha in event.artifacts:
            assert PASSWORD.encode() not in store.read_artifact(sha)
    assert len(captured[1].artifacts) == 3  # screenshot, annotated with the highlight, thumbnail


def test_rows_fast_css_path_and_general_path_agree(write_recipe, go, local_site):
    path = write_recipe("""\
        session: login
        steps:
          - goto: /orders
          - extract:
              fast:
                rows: {css: "tbody tr"}
                fields:
                  id: {css: a}
                  href: {css: a, attribute: href}
                  total: {css: "td:nth-child(3)", as: money}
                  note: {css: em, optional: true, default: "-"}
              general:
                rows: {css: "tbody tr"}
                fields:
                  id: {role: link}
                  href: {role: link, attribute: href}
                  total: {css: "td:nth-child(3)", as: money}
                  note: {css: em, optional: true, default: "-"}
        outputs: {fast: "{{ fast }}", general: "{{ general }}"}
        """)
    result = go(path)
    assert result.state is RunState.DONE, result.error
    assert result.outputs["fast"] == result.outputs["general"]
    assert result.outputs["fast"][1] == {
        "id": "A100000000002",
        "href": "/orders/A100000000002",
        "total": {"amount": 1234.5, "currency": "EUR"},
        "note": "-",
    }


def test_connection_refused_is_transient_and_retried(write_recipe, go, store, local_site, settings):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.sites["local"].allowed_origins = [f"http://127.0.0.1:{port}"]
    path = write_recipe(f"""\
        steps:
          - goto: http://127.0.0.1:{port}/
            retries: 1
        """)
    result = go(path)
    assert result.state is RunState.FAILED
    assert "ERR_CONNECTION_REFUSED" in (result.error or "")
    assert len(events(store, result, "step_retried")) == 1
