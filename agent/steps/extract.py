"""Extraction: read values from the page into the recipe's scope.

Each key under `extract` becomes a value later steps and `outputs` can use.

Example::

    - extract:
        status: {label: Status}                          # text of one element
        refundable: {testid: refundable, as: money}      # {amount: 12.5, currency: USD}
        placed: {testid: placed-at, as: date}            # ISO date
        invoice_url: {role: link, name: Invoice, attribute: href}
        tags: {css: ".tag", all: true}                   # every match, as a list
        note: {testid: note, optional: true}             # None when absent
        items:                                           # a table, by its column headers
          table: {role: table, name: Items}
          columns: {sku: SKU, qty: {header: Quantity, as: int}, price: {header: Price, as: money}}
        events:                                          # repeated blocks, fields inside each
          rows: {css: ".tracking-event"}
          fields: {at: {css: time, as: date}, what: {css: .what}}
      not_found: {text: No orders found, message: "order not found"}   # see browser/not_found.py
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Discriminator, Field, Tag, model_validator

from agent.browser.not_found import NotFoundSpec, not_found_field
from agent.browser.selectors import Selector, build_locator
from agent.core.errors import SelectorError, StepError
from agent.recipes.coerce import Coercion, clean_text, coerce
from agent.recipes.tables import data_rows
from agent.steps.base import Params, Step

if TYPE_CHECKING:
    from agent.engine.context import RunContext

# Text of an element as a person reads it; form controls give their current value.
_READ_JS = """el => {
  if (el.matches('input, textarea, select')) {
    if (el.matches('select')) { const o = el.selectedOptions[0]; return o ? o.textContent : ''; }
    if (el.matches('[type=checkbox], [type=radio]')) return el.checked ? 'true' : 'false';
    return el.value;
  }
  return el.innerText !== undefined ? el.innerText : el.textContent;
}"""

_ATTRIBUTE_JS = "(el, name) => el.getAttribute(name)"

# Repeated blocks whose fields are plain CSS: every row and field read in one evaluate.
_ROWS_JS = """(rows, fields) => rows.map(row => Object.fromEntries(
  fields.map(([name, css, attr]) => {
  const el = css === ':scope' ? row : row.querySelector(css);
  if (!el) return [name, null];
  return [name, attr ? el.getAttribute(attr) : READ(el)];
})))"""

_TABLE_JS = """t => {
  const text = c => (c.innerText || c.textContent || '').trim();
  let rows = Array.from(
    t.querySelectorAll(':scope > thead > tr, :scope > tbody > tr, :scope > tr'));
  if (!rows.length) rows = Array.from(t.querySelectorAll('[role=row]'));
  const cells = r => Array.from(r.querySelectorAll(
    ':scope > th, :scope > td, [role=columnheader], [role=cell], [role=gridcell]'));
  if (!rows.length) return {headers: [], rows: []};
  const headers = cells(rows[0]).map(text);
  return {headers, rows: rows.slice(1).map(r => cells(r).map(text))};
}"""


class FieldSpec(Selector):
    """One value: a selector, how to read it, how to convert it."""

    as_: Coercion = Field("text", alias="as", description="text, int, number, money, date, bool.")
    attribute: str | None = Field(None, description="Read this attribute instead of the text.")
    all: bool = Field(False, description="Every match, as a list (not strict).")
    optional: bool = Field(False, description="None (or `default`) when nothing matches.")
    default: Any = Field(None, description="Value when optional and absent.")
    format: str | None = Field(None, description="strptime format for `as: date`.")


class ColumnSpec(Params):
    header: str = Field(description="Column header text (case-insensitive).")
    as_: Coercion = Field("text", alias="as", description="How to convert the cell text.")
    format: str | None = Field(None, description="strptime format for `as: date`.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"header": data} if isinstance(data, str) else data


class TableSpec(Params):
    """A list of dicts read from a table by column headers (robust to column order)."""

    table: Selector = Field(description="The table (role=table, css=table …).")
    columns: dict[str, ColumnSpec] = Field(description="value name -> header or {header, as}.")
    max: int = Field(1000, gt=0, description="Read at most this many rows.")
    optional: bool = Field(
        False, description="An empty list when the page has no such table (e.g. no refunds yet)."
    )
    footer_rows: int = Field(
        0,
        ge=0,
        description="The last N body rows are totals, not data (a plain last row 'Total'): "
        "dropped. Rows in <tfoot> are never read as data.",
    )
    empty_text: str | None = Field(
        None,
        description="The text of the row a table shows when it has nothing, e.g. 'No refunds "
        "yet': rows with it are dropped, so such a table reads as an empty list.",
    )
    where: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Keep only rows whose cell (by column key) is this text, or one of a "
        "list; case and spacing ignored, compared before `as:`.",
    )
    where_not: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Drop rows whose cell (by column key) is this text, or one of a list "
        "(e.g. `{sku: \"\"}` drops rows with no SKU, such as a 'Total' row).",
    )

    @model_validator(mode="after")
    def _filters_name_columns(self) -> TableSpec:
        for option in ("where", "where_not"):
            unknown = [k for k in getattr(self, option) if k not in self.columns]
            if unknown:
                raise ValueError(
                    f"{option} names {', '.join(unknown)}, not a key of columns "
                    f"({', '.join(self.columns)})"
                )
        return self


class RowsSpec(Params):
    """A list of dicts read from repeated blocks (cards, list items, rows)."""

    rows: Selector = Field(description="Each match is one row/block.")
    fields: dict[str, FieldSpec] = Field(description="Selectors relative to each row.")
    max: int = Field(1000, gt=0, description="Read at most this many rows.")


def _spec_kind(data: Any) -> str:
    if isinstance(data, dict):
        if "table" in data:
            return "table"
        if "rows" in data:
            return "rows"
    if isinstance(data, TableSpec):
        return "table"
    if isinstance(data, RowsSpec):
        return "rows"
    return "field"


AnySpec = Annotated[
    Annotated[FieldSpec, Tag("field")]
    | Annotated[TableSpec, Tag("table")]
    | Annotated[RowsSpec, Tag("rows")],
    Discriminator(_spec_kind),
]


class Extract(Step):
    """Read fields, lists and tables from the page into named values.

    Example::

        - extract:
            status: {label: Status}
            refundable: {testid: refundable, as: money}
    """

    key: ClassVar[str] = "extract"
    effect: ClassVar = "read"
    extract: dict[str, AnySpec] = Field(description="value name -> what to read.")
    not_found: NotFoundSpec | None = not_found_field()

    def defines(self) -> list[str]:
        return list(self.extract)

    async def run(self, ctx: RunContext) -> None:
        timeout = ctx.timeout_ms(self)
        if self.not_found is not None and self.extract:  # the race is with the first value
            first = next(iter(self.extract.values()))
            target = (
                first.table
                if isinstance(first, TableSpec)
                else first.rows
                if isinstance(first, RowsSpec)
                else first
            )
            await ctx.fail_if_not_found(target, self.not_found, timeout_ms=timeout)
        extracted: dict[str, Any] = {}
        for name, spec in self.extract.items():
            try:
                if isinstance(spec, TableSpec):
                    value: Any = await _read_table(ctx, spec, timeout)
                elif isinstance(spec, RowsSpec):
                    value = await _read_rows(ctx, spec, timeout)
                else:
                    value = await _read_field(ctx, ctx.page, spec, timeout)
            except StepError as exc:
                raise type(exc)(f"extracting `{name}`: {exc.message}", hint=exc.hint) from None
            ctx.set_value(name, value)
            extracted[name] = value
        # the evidence trail: which back-office page was reviewed, and what was read from it
        ctx.event(
            "page_reviewed",
            {
                "url": ctx.page.url,
                "title": await ctx.page.title(),
                "step": ctx.top_level_index(self) + 1,
                "extracted": extracted,
            },
        )


async def _read_field(
    ctx: RunContext, root: Any, spec: FieldSpec, timeout: float, *, strict_wait: bool = True
) -> Any:
    rendered = ctx.render_selector(spec)
    if spec.all:
        loc = build_locator(root, rendered)
        read = (
            f"els => els.map(e => e.getAttribute({spec.attribute!r}))"
            if spec.attribute
            else f"els => els.map({_READ_JS})"
        )
        texts = await loc.evaluate_all(read)
        if not texts and not spec.optional and strict_wait:  # not there yet: wait, read again
            await ctx.wait_attached(loc, rendered, timeout_ms=timeout)
            texts = await loc.evaluate_all(read)
        return [_convert(t, spec) for t in texts]
    if spec.optional and await build_locator(root, rendered).count() == 0:
        return spec.default
    if spec.attribute:
        text = await ctx.evaluate_one(
            spec, _ATTRIBUTE_JS, spec.attribute, timeout_ms=timeout, root=root
        )
    else:
        text = await ctx.evaluate_one(spec, _READ_JS, timeout_ms=timeout, root=root)
    return _convert(text, spec)


def _convert(text: str | None, spec: FieldSpec | ColumnSpec) -> Any:
    try:
        return coerce(text, spec.as_, date_format=spec.format)
    except ValueError as exc:
        raise StepError(str(exc), hint=f"check the selector, or change `as: {spec.as_}`") from None


async def _read_table(ctx: RunContext, spec: TableSpec, timeout: float) -> list[dict[str, Any]]:
    table_sel = ctx.render_selector(spec.table)
    if spec.optional and await build_locator(ctx.page, table_sel).count() == 0:
        return []  # checked once, not waited for: wait_for the page first when it loads late
    data = await ctx.evaluate_one(spec.table, _TABLE_JS, timeout_ms=timeout)
    headers = [clean_text(h).lower() for h in data["headers"]]
    index: dict[str, int] = {}
    for name, col in spec.columns.items():
        want = clean_text(str(ctx.render(col.header))).lower()
        matches = [i for i, h in enumerate(headers) if h == want] or [
            i for i, h in enumerate(headers) if h.startswith(want)
        ]
        if not matches:
            raise SelectorError(
                f"the table has no column {col.header!r}; its columns are: "
                + ", ".join(repr(h) for h in data["headers"]),
                hint="column headers are matched case-insensitively, whole or as a prefix",
            )
        index[name] = matches[0]
    rows = data_rows(
        data["rows"],
        index,
        footer_rows=spec.footer_rows,
        empty_text=spec.empty_text,
        where={k: ctx.render(v) for k, v in spec.where.items()},
        where_not={k: ctx.render(v) for k, v in spec.where_not.items()},
    )
    out = []
    for row in rows[: spec.max]:
        out.append(
            {
                name: _convert(row[i] if i < len(row) else None, spec.columns[name])
                for name, i in index.items()
            }
        )
    return out


async def _read_rows(ctx: RunContext, spec: RowsSpec, timeout: float) -> list[dict[str, Any]]:
    rows_sel = ctx.render_selector(spec.rows)
    rows = build_locator(ctx.page, rows_sel)
    await ctx.wait_attached(rows, rows_sel, timeout_ms=timeout)
    if all(_plain_css(f) for f in spec.fields.values()):
        fields = [[name, f.css, f.attribute] for name, f in spec.fields.items()]
        raw = await rows.evaluate_all(_ROWS_JS.replace("READ", f"({_READ_JS})"), fields)
        out = []
        for row in raw[: spec.max]:
            item = {}
            for name, field in spec.fields.items():
                if row[name] is None and not field.optional:
                    raise SelectorError(
                        f"a row has no {field.css!r} (field `{name}`)",
                        hint="mark the field `optional: true` if some rows lack it",
                    )
                item[name] = field.default if row[name] is None else _convert(row[name], field)
            out.append(item)
        return out
    count = min(await rows.count(), spec.max)
    out = []
    for i in range(count):
        row = rows.nth(i)
        out.append(
            {
                name: await _read_field(ctx, row, field, timeout, strict_wait=False)
                for name, field in spec.fields.items()
            }
        )
    return out


def _plain_css(field: FieldSpec) -> bool:
    """A field read the fast way: one CSS selector inside the row, first match, no waiting."""
    plain = field.css is not None and not field.all and "{{" not in field.css
    scoped = field.within is not None or field.has is not None or field.has_text is not None
    return plain and not scoped and field.nth is None
