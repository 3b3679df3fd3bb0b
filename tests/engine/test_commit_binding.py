"""What is sent is what was approved: the commit request is held, compared, released once.

End to end on the real ShopLane sandbox (HTTP, its own SQLite ledger) in real Chromium,
through the public API (`Aijia.approve`, `Aijia.resume`) as the shipped policy's users; the
hostile page is the sandbox's `submit_tamper` fault. The compare/parse rules and validation
need no browser.
"""

from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.core.errors import RecipeError
from agent.core.states import RunState
from agent.engine.binding import Declared, compare, parse_body, same_value, url_pattern
from agent.recipes.model import load_recipe
from tests.gates.conftest import FLAVOR, Gates, Prepared, gates  # noqa: F401 - fixtures
from tests.recipes.conftest import RECIPES, product, store  # noqa: F401 - fixtures

AMOUNT = "5.00"


def prepare(gates: Gates) -> Prepared:  # noqa: F811
    """A ShopLane refund of 5.00, prepared by `lead` and paused at its gate."""
    order = next(
        o
        for o in gates.sandbox.find_orders(FLAVOR, "delivered", limit=10)
        if Decimal(o.refundable) >= Decimal(AMOUNT)
    )
    result = gates.start("prepare_refund", order_id=order.order_id, amount=AMOUNT, reason="damaged")
    assert result.state is RunState.PAUSED and result.gate is not None, result.error
    assert result.gate.gate_id is not None and result.run_id is not None
    return Prepared(result, result.gate.gate_id, result.run_id, order.order_id)


def events(gates: Gates, run_id: str, kind: str) -> list[dict[str, Any]]:  # noqa: F811
    return [dict(e.data) for e in gates.store.events(run_id) if e.kind == kind]


def states(gates: Gates, run_id: str) -> list[str]:  # noqa: F811
    return [e["to_state"] for e in events(gates, run_id, "state_changed")]


# --------------------------------------------------------------------------- in Chromium


def test_a_field_swapped_on_submit_never_reaches_the_site_and_is_gated_again(
    gates: Gates,  # noqa: F811
) -> None:
    prepared = prepare(gates)
    gates.sandbox.set_faults(FLAVOR, submit_tamper="swap_amount")
    decision = gates.approve(prepared.gate_id, "reviewer")

    result = gates.resume(decision.run_id)
    assert result.state is RunState.PAUSED and result.exit_code == 3, result.error
    assert result.pause_reason == "drift"
    assert result.gate is not None and result.gate.gate_id not in (None, prepared.gate_id)
    assert "'5.00'" in (result.error or "") and "'999.00'" in (result.error or "")
    assert gates.refunds() == [], "nothing reached the sandbox ledger"
    assert gates.store.get_run(prepared.run_id).state is RunState.PAUSED
    assert gates.store.get_gate(prepared.gate_id).state == "expired"
    assert "committing" not in states(gates, prepared.run_id), "the run was never claimed"

    [refused] = events(gates, prepared.run_id, "commit_request_refused")
    assert refused["method"] == "POST"
    assert refused["url"].endswith(f"/portal/sale/order/{prepared.order_id}/refund")
    reference = f"aijia {prepared.run_id}"  # written by the recipe; reconcile finds it
    assert refused["fields"] == {"amount": "999.00", "reason": "damaged", "reference": reference}
    assert refused["differences"]["amount"]["approved"] == AMOUNT
    assert refused["differences"]["amount"]["now"] == "999.00"
    assert events(gates, prepared.run_id, "commit_request_sent") == []

    view = gates.view(str(result.gate.gate_id))
    assert view.gate.state == "pending" and view.gate.binds["amount"] == AMOUNT
    assert view.drift["amount"]["approved"] == AMOUNT and view.drift["amount"]["now"] == "999.00"

    # Approving the same values again changes nothing while the page still swaps them; once
    # it stops, the new approval commits exactly the approved refund.
    again = gates.resume(gates.approve(str(result.gate.gate_id), "reviewer").run_id)
    assert again.state is RunState.PAUSED and gates.refunds() == []
    assert again.gate is not None
    gates.sandbox.set_faults(FLAVOR, submit_tamper="off")
    done = gates.resume(gates.approve(str(again.gate.gate_id), "reviewer").run_id)
    assert done.state is RunState.DONE, done.error
    [refund] = gates.refunds()
    assert (refund["order_id"], refund["amount"]) == (prepared.order_id, AMOUNT)
    assert gates.store.verify([prepared.run_id]).ok


def test_a_matching_submit_commits_once_and_records_what_was_sent(
    gates: Gates,  # noqa: F811
) -> None:
    prepared = prepare(gates)
    decision = gates.approve(prepared.gate_id, "reviewer")

    done = gates.resume(decision.run_id)
    assert done.state is RunState.DONE, done.error
    [refund] = gates.refunds()
    assert (refund["order_id"], refund["amount"]) == (prepared.order_id, AMOUNT)

    [sent] = events(gates, prepared.run_id, "commit_request_sent")
    assert sent["method"] == "POST"
    assert sent["url"].endswith(f"/portal/sale/order/{prepared.order_id}/refund")
    reference = f"aijia {prepared.run_id}"
    assert sent["fields"] == {"amount": AMOUNT, "reason": "damaged", "reference": reference}
    assert events(gates, prepared.run_id, "commit_request_refused") == []
    assert events(gates, prepared.run_id, "undeclared_request_refused") == []
    assert states(gates, prepared.run_id)[-2:] == ["committing", "done"]
    kinds = [e.kind for e in gates.store.events(prepared.run_id)]
    assert kinds.index("commit_request_sent") < kinds.index("action_done")
    assert gates.store.verify([prepared.run_id]).ok


def test_an_extra_post_during_the_commit_is_aborted_and_recorded(
    gates: Gates,  # noqa: F811
) -> None:
    prepared = prepare(gates)
    gates.sandbox.set_faults(FLAVOR, submit_tamper="extra_post")
    decision = gates.approve(prepared.gate_id, "reviewer")

    done = gates.resume(decision.run_id)
    assert done.state is RunState.DONE, done.error
    assert [r["amount"] for r in gates.refunds()] == [AMOUNT], "the approved refund, once"
    assert gates.sandbox.ledger(FLAVOR)["notes"] == [], "the sneaked note never arrived"
    [blocked] = events(gates, prepared.run_id, "undeclared_request_refused")
    assert blocked["method"] == "POST"
    assert blocked["url"].endswith(f"/portal/sale/order/{prepared.order_id}/notes")
    [sent] = events(gates, prepared.run_id, "commit_request_sent")
    assert sent["fields"]["amount"] == AMOUNT


def test_a_websocket_opened_during_the_commit_is_refused_and_recorded(
    gates: Gates,  # noqa: F811
) -> None:
    prepared = prepare(gates)
    gates.sandbox.set_faults(FLAVOR, submit_tamper="socket")
    decision = gates.approve(prepared.gate_id, "reviewer")

    done = gates.resume(decision.run_id)
    assert done.state is RunState.DONE, done.error
    assert [r["amount"] for r in gates.refunds()] == [AMOUNT]
    [refused] = events(gates, prepared.run_id, "undeclared_request_refused")
    assert refused["method"] == "WEBSOCKET"
    assert refused["url"].endswith("/ws/notes")


def test_a_commit_whose_declared_request_never_leaves_fails_having_sent_nothing(
    gates: Gates,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The recipe declares another URL than the form posts to: the real POST is undeclared,
    so it is aborted; the run fails (not in doubt: nothing left the browser)."""
    folder = shipped_copy(tmp_path)
    recipe = folder / "prepare_refund.yaml"
    recipe.write_text(recipe.read_text().replace("}}/refund\n", "}}/refund-elsewhere\n"))
    monkeypatch.setenv("AIJIA_RECIPES", str(folder.parent))  # where resume finds the recipe
    prepared = prepare(gates)
    decision = gates.approve(prepared.gate_id, "reviewer")

    result = gates.resume(decision.run_id)
    assert result.state is RunState.FAILED, result.error
    assert "never sent the declared commit request" in (result.error or "")
    assert gates.refunds() == []
    [blocked] = events(gates, prepared.run_id, "undeclared_request_refused")
    assert blocked["url"].endswith("/refund")
    assert "committing" not in states(gates, prepared.run_id)


# --------------------------------------------------------------------------- validation


def shipped_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "recipes" / FLAVOR
    shutil.copytree(RECIPES / FLAVOR, folder)
    return folder


def test_a_gated_recipe_without_commits_is_refused_at_the_gate_line(tmp_path: Path) -> None:
    recipe = shipped_copy(tmp_path) / "prepare_refund.yaml"
    text = recipe.read_text()
    start = text.index("commits:")
    recipe.write_text(text[:start] + text[text.index("reconcile:") :])
    gate_line = next(i for i, line in enumerate(text.splitlines(), 1) if "- gate:" in line)

    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    message = str(info.value)
    assert f"{recipe}:{gate_line}:" in message
    assert "must declare its commit request (`commits:`)" in message
    assert "The offending line appears to be:" in message


def test_commit_fields_must_name_binds_of_the_gate(tmp_path: Path) -> None:
    recipe = shipped_copy(tmp_path) / "prepare_refund.yaml"
    text = recipe.read_text().replace("fields: {amount: amount,", "fields: {amount: amont,")
    recipe.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "amount: amont" in row)

    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    message = str(info.value)
    assert f"{recipe}:{line}:" in message
    assert "`amont` (for request field `amount`) is not a bind of the gate" in message
    assert "did you mean `amount`?" in message


def test_commits_without_a_gate_and_unknown_names_in_its_templates_are_refused(
    tmp_path: Path,
) -> None:
    folder = shipped_copy(tmp_path)
    lookup = folder / "lookup_order.yaml"
    lookup.write_text(lookup.read_text() + 'commits: {url: "**/refund"}\n')
    with pytest.raises(RecipeError, match="this recipe has no gate"):
        load_recipe(lookup)
    refund = folder / "prepare_refund.yaml"
    refund.write_text(refund.read_text().replace("{{ inputs.order_id }}/refund\n", "{{ sn }}/r\n"))
    with pytest.raises(RecipeError, match="undefined variable `sn`"):
        load_recipe(refund)


# --------------------------------------------------------------------------- the rules


def declared(**fields: str) -> Declared:
    return Declared(
        method="POST",
        url="**/refund",
        pattern=re.compile(".*"),
        fields=fields,
        other_fields="empty",
        ignore=frozenset({"csrf_token"}),
    )


@pytest.mark.parametrize(
    ("bound", "sent", "same"),
    [
        ("5.00", "5", True),
        ("5.00", "5.0", True),
        (5, "5.00", True),
        (12.5, "12.50", True),
        ("1,234.50", "1234.5", True),
        ("5.00", "999.00", False),
        ("5.00", "5.001", False),
        ("5.00", None, False),
        ("5.00", "5,00", False),
        ("00123", "123", False),  # digits-only text (an id) compares as text
        ("damaged", "damaged", True),
        ("damaged", "Damaged", False),
        ("line one\nline two", "line one\r\nline two", True),  # a textarea's CRLF
        (True, "on", True),
        (True, None, False),
        (False, None, True),
        (False, "on", False),
    ],
)
def test_values_compare_canonically(bound: Any, sent: Any, same: bool) -> None:
    assert same_value(bound, sent) is same


def test_bodies_are_read_as_forms_multipart_and_json() -> None:
    form = parse_body("application/x-www-form-urlencoded", b"amount=5.00&reason=damaged&x=")
    assert form.get("amount") == ["5.00"] and form.get("x") == [""]
    multipart = parse_body(
        "multipart/form-data; boundary=XX",
        b'--XX\r\nContent-Disposition: form-data; name="amount"\r\n\r\n5.00\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="note"\r\n\r\nna\xc3\xafve\r\n--XX--\r\n',
    )
    assert multipart.get("amount") == ["5.00"] and multipart.get("note") == ["naïve"]
    data = parse_body("application/json; charset=utf-8", b'{"refund": {"lines": [{"amt": 5}]}}')
    assert data.get("refund.lines.0.amt") == [5]


def test_a_difference_an_extra_field_or_a_doubled_field_is_refused() -> None:
    rule = declared(amount="amount")
    approved = {"amount": "5.00"}
    ok = parse_body("application/x-www-form-urlencoded", b"csrf_token=t&amount=5&other=0.00")
    assert compare(rule, approved, ok) == ({"amount": "5"}, {})
    for body, key in [
        (b"amount=999.00", "amount"),
        (b"reason=", "amount"),  # absent
        (b"amount=5.00&amount=999.00", "amount"),  # which one would the site take?
        (b"amount=5.00&amount_2=999.00", "amount_2 (not approved)"),
    ]:
        _, differences = compare(
            rule, approved, parse_body("application/x-www-form-urlencoded", body)
        )
        assert list(differences) == [key], body


def test_url_patterns_glob_the_recipe_text_and_match_rendered_values_literally() -> None:
    base = "http://127.0.0.1:8700/app/"
    values = {"{{ sn }}": "A*1", "{{ page }}": "/orders/7"}
    pattern = url_pattern("/portal/*/order/{{ sn }}/refund", values.__getitem__, base)
    assert pattern.fullmatch("http://127.0.0.1:8700/portal/sale/order/A*1/refund")
    assert not pattern.fullmatch("http://127.0.0.1:8700/portal/sale/order/AB1/refund")
    assert not pattern.fullmatch("http://127.0.0.1:8700/portal/sale/order/A*1/refund?x=1")
    assert not pattern.fullmatch("http://127.0.0.1:8701/portal/sale/order/A*1/refund")
    joined = url_pattern("{{ page }}/refunds", values.__getitem__, base)
    assert joined.fullmatch("http://127.0.0.1:8700/orders/7/refunds")
    anywhere = url_pattern("**/refund", values.__getitem__, base)
    assert anywhere.fullmatch("http://x.test/a/b/refund")
    relative = url_pattern("refund", values.__getitem__, base)
    assert relative.fullmatch("http://127.0.0.1:8700/app/refund")
