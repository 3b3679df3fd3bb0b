"""Selectors: how a recipe names an element, turned into a Playwright locator.

One way per selector, the ones that survive layout changes first::

    {role: button, name: Refund}          # ARIA role + accessible name (exact: true to match whole)
    {label: Amount}                       # a form control by its label
    {text: Refund submitted}              # visible text
    {placeholder: Search orders}
    {testid: order-status}                # data-testid
    {css: "[data-field=status]"}          # last resort
    {label: Amount, within: {role: dialog, name: Refund}}   # scoped
    {role: row, nth: 0}                   # pick one of several matches explicitly

The shorthand string form is `KIND=VALUE` (`"label=Amount"`, `"text=Refund submitted"`,
`"css=#status"`, `"testid=order-status"`, `"role=button"`). Selectors are strict: matching two
elements is an error unless `nth` picks one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

KINDS = ("role", "label", "text", "placeholder", "testid", "css")

# ARIA roles Playwright understands; a typo here is a recipe problem, not a runtime timeout.
ARIA_ROLES = frozenset(
    (  # noqa: SIM905 - a list literal would be 80 lines
        "alert alertdialog application article banner blockquote button caption cell checkbox code "
        "columnheader combobox complementary contentinfo definition deletion dialog directory "
        "document emphasis feed figure form generic grid gridcell group heading img insertion link "
        "list listbox listitem log main marquee math meter menu menubar menuitem menuitemcheckbox "
        "menuitemradio navigation none note option paragraph presentation progressbar radio "
        "radiogroup region row rowgroup rowheader scrollbar search searchbox separator slider "
        "spinbutton status strong subscript superscript switch tab table tablist tabpanel term "
        "textbox time timer toolbar tree treegrid treeitem"
    ).split()
)


def parse_shorthand(text: str) -> dict[str, Any]:
    """`"label=Amount"` -> `{"label": "Amount"}`; ValueError with the accepted forms otherwise."""
    kind, sep, value = text.partition("=")
    kind = kind.strip()
    if not sep or kind not in KINDS or not value.strip():
        raise ValueError(
            f"bad selector {text!r}: a selector string is KIND=VALUE with KIND one of "
            f"{', '.join(KINDS)} (e.g. 'label=Amount'), or use a mapping like "
            "{role: button, name: Refund}"
        )
    return {kind: value.strip()}


class Selector(BaseModel):
    """Exactly one of role/label/text/placeholder/testid/css, optionally scoped and picked."""

    model_config = ConfigDict(extra="forbid")

    role: str | None = Field(None, description="ARIA role, e.g. button, link, heading, row.")
    name: str | None = Field(None, description="Accessible name for `role` (a template).")
    exact: bool = Field(False, description="Match name/label/text exactly (whole, case-sensitive).")
    label: str | None = Field(None, description="A form control by its <label> or aria-label.")
    text: str | None = Field(None, description="An element by its visible text.")
    placeholder: str | None = Field(None, description="An input by its placeholder.")
    testid: str | None = Field(None, description="An element by its data-testid attribute.")
    css: str | None = Field(None, description="A CSS selector; prefer role/label.")
    within: Selector | None = Field(None, description="Look only inside this element.")
    has: Selector | None = Field(
        None,
        description="Keep only matches that contain this element, e.g. a table with a SKU "
        "column: {role: table, has: {role: columnheader, name: SKU}}.",
    )
    has_text: str | None = Field(None, description="Keep only matches containing this text.")
    nth: int | None = Field(None, description="Pick the nth match (0-based, -1 = last).")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return parse_shorthand(data)
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Selector:
        check_selector(self)
        return self

    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    def describe(self) -> str:
        """`role=button name="Refund"` — for messages."""
        kind = self.kind()
        text = f"{kind}={getattr(self, kind)!r}"
        if self.name is not None:
            text += f" name={self.name!r}"
        if self.nth is not None:
            text += f" nth={self.nth}"
        if self.has is not None:
            text += f" has ({self.has.describe()})"
        if self.has_text is not None:
            text += f" has_text={self.has_text!r}"
        if self.within is not None:
            text += f" within ({self.within.describe()})"
        return text


def selector_fields(obj: BaseModel) -> dict[str, Any]:
    """The selector part of a params model that extends Selector."""
    return {k: getattr(obj, k) for k in Selector.model_fields}


def check_selector(sel: Any) -> None:
    """Shared rule for Selector and the params models that extend it."""
    given = [k for k in KINDS if getattr(sel, k, None) is not None]
    if len(given) != 1:
        found = ", ".join(given) if given else "none"
        raise ValueError(f"a selector needs exactly one of {', '.join(KINDS)} (found: {found})")
    if sel.name is not None and sel.role is None:
        raise ValueError("`name` belongs to a role selector, e.g. {role: button, name: Refund}")
    if sel.role is not None and sel.role not in ARIA_ROLES and "{{" not in sel.role:
        import difflib

        close = difflib.get_close_matches(sel.role, sorted(ARIA_ROLES), n=1)
        also = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown ARIA role {sel.role!r}{also}")


def build_locator(root: Page | Locator, sel: Selector) -> Locator:
    """The Playwright locator for a (rendered) selector, scoped by `within` and `nth`."""
    if sel.within is not None:
        root = build_locator(root, sel.within)
    if sel.role is not None:
        loc = root.get_by_role(sel.role, name=sel.name, exact=sel.exact)  # type: ignore[arg-type]
    elif sel.label is not None:
        loc = root.get_by_label(sel.label, exact=sel.exact)
    elif sel.text is not None:
        loc = root.get_by_text(sel.text, exact=sel.exact)
    elif sel.placeholder is not None:
        loc = root.get_by_placeholder(sel.placeholder, exact=sel.exact)
    elif sel.testid is not None:
        loc = root.get_by_test_id(sel.testid)
    else:
        assert sel.css is not None
        loc = root.locator(sel.css)
    if sel.has is not None or sel.has_text is not None:
        inner = build_locator(loc.page, sel.has) if sel.has is not None else None
        loc = loc.filter(has=inner, has_text=sel.has_text)
    if sel.nth is not None:
        loc = loc.nth(sel.nth)
    return loc
