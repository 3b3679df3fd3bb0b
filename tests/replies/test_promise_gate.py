"""A draft that may promise a refund or compensation must be followed by a gate that binds its
text: refused when the recipe loads, with the line and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.errors import RecipeError
from agent.recipes.model import load_recipe

HEAD = """name: reply_probe
site: shoplane
inputs:
  order_id: {type: string}
steps:
  - draft_reply:
      channel: email
      intent: INTENT
      facts: {order_id: "{{ inputs.order_id }}", amount: "5.00 USD"}
      into: answer
"""
GATE = """  - gate:
      action: refund_reply
      summary: "Send the reply about {{ inputs.order_id }}"
      binds: {text: "BOUND"}
  - click: {role: button, name: Send}
    mutates: true
commits: {method: POST, url: /send, fields: {text: text}}
"""


def _load(tmp_path: Path, text: str) -> object:
    folder = tmp_path / "shoplane"
    folder.mkdir(exist_ok=True)
    path = folder / "reply_probe.yaml"
    path.write_text(text, encoding="utf-8")
    return load_recipe(path)


@pytest.mark.parametrize(
    "intent", ["refund_offer", "compensation_offer", "'{{ inputs.order_id }}'"]
)
def test_a_promise_without_a_gate_is_refused_at_load(tmp_path: Path, intent: str):
    with pytest.raises(RecipeError) as err:
        _load(tmp_path, HEAD.replace("INTENT", intent))
    [problem] = err.value.problems
    assert "needs a gate after it that binds `answer`" in problem.message
    assert problem.location is not None and problem.location.line == 6
    assert 'text: "{{ answer.text }}"' in (problem.hint or "")


def test_a_gate_that_does_not_bind_the_draft_is_not_enough(tmp_path: Path):
    text = HEAD.replace("INTENT", "refund_offer") + GATE.replace("BOUND", "{{ inputs.order_id }}")
    with pytest.raises(RecipeError, match="needs a gate after it that binds `answer`"):
        _load(tmp_path, text)


def test_a_gate_binding_the_draft_text_passes(tmp_path: Path):
    text = HEAD.replace("INTENT", "refund_offer") + GATE.replace("BOUND", "{{ answer.text }}")
    recipe = _load(tmp_path, text)
    assert recipe.steps[0].key == "draft_reply"  # type: ignore[attr-defined]


def test_a_reply_that_promises_nothing_needs_no_gate(tmp_path: Path):
    recipe = _load(tmp_path, HEAD.replace("INTENT", "ask_photos"))
    assert recipe.steps[0].defines() == ["answer"]  # type: ignore[attr-defined]


def test_unknown_channel_and_intent_are_refused_at_load(tmp_path: Path):
    bad = HEAD.replace("INTENT", "refund_everything").replace("channel: email", "channel: fax")
    with pytest.raises(RecipeError) as err:
        _load(tmp_path, bad)
    text = str(err.value)
    assert "unknown channel 'fax'" in text and "unknown intent 'refund_everything'" in text
