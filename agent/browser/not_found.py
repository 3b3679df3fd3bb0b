"""`not_found`: what the page shows when the thing a step looks for does not exist.

An option of the steps that wait for an element (`click`, `extract`, `wait_for`). The step
waits for whichever appears first, its element or the marker (Playwright's `locator.or_`,
in `ElementFinder.fail_if_not_found`); when the marker shows, the run fails at once with
NotFound and the recipe's message, instead of a selector timeout seconds later. The run is
recorded failed like any other (screenshot on failure, evidence kept) with the error kind
`not_found`, exit 1.

Example::

    - goto: /portal/sale/order?search={{ inputs.order_id }}
    - click: {role: link, name: "{{ inputs.order_id }}", exact: true}
      not_found: {text: No orders found, message: "order {{ inputs.order_id }} not on ShopLane"}

The marker is any selector (`text`, `role`, `css` …, see agent/browser/selectors.py) plus a
`message` (a template, required: whoever reads the failure learns what was not found). For
`extract` the race is with the first value's element (or its table / rows).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from agent.browser.selectors import Selector

_EXAMPLE = '{text: No orders found, message: "order {{ inputs.order_id }} not found"}'


class NotFoundSpec(Selector):
    """A selector for the page's "nothing here" sign, and what to say when it shows."""

    message: str = Field(
        description="The failure message (a template), e.g. "
        '"order {{ inputs.order_id }} not found on ShopLane".'
    )

    @model_validator(mode="before")
    @classmethod
    def _a_mapping_with_a_message(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(
                "not_found is a mapping: a selector of the page's 'nothing here' sign and a "
                f"message, e.g. {_EXAMPLE}"
            )
        if not str(data.get("message") or "").strip():
            raise ValueError(f"not_found needs a `message` saying what was not found: {_EXAMPLE}")
        return data


def not_found_field() -> Any:
    """The `not_found` field of a step that waits for an element."""
    return Field(
        None,
        description="What the page shows when the element does not exist (a selector plus "
        "`message`): the step fails at once with that message (error kind not_found) "
        "instead of waiting for its timeout.",
    )
