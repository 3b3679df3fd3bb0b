"""The one order shape: what `lookup_order`, `capture_order_evidence` and `prepare_refund`
hand out on every site, as a versioned JSON Schema (docs/order-schema.md explains each key).

Two documents, told apart by their `schema` key:

- `aijia.order/1` — an order as read (lookup_order; capture_order_evidence gives a subset):
  ids, a normalised `status` (STATUSES) beside the site's own words (`status_raw`), buyer,
  items, totals, refunds and tracking. Site-only values go under `extra`.
- `aijia.refund/1` — a refund that was issued (prepare_refund after approval).

Money is always `{"amount": "12.50", "currency": "USD"}`: a decimal string, never a float, so
a CSV, a gate bind and an output show the same text (`money_strings` filter).

    from agent.recipes.order_schema import validate
    validate(result.outputs)        # ValueError saying which key is wrong and why
"""

from __future__ import annotations

from typing import Any

ORDER = "aijia.order/1"
REFUND = "aijia.refund/1"

# The normalised order status. A site's own word stays in `status_raw`.
STATUSES = (
    "pending",  # placed, not paid yet
    "paid",  # paid, not shipped yet
    "shipped",  # handed to the carrier, not delivered yet
    "delivered",  # the carrier says delivered (or the site calls the order completed)
    "cancelled",  # cancelled or voided before it was fulfilled
    "refunded",  # everything paid has been refunded
)

# The refund reasons every site's prepare_refund takes (its `reason` input).
REASONS = ("not_received", "damaged", "wrong_item", "not_as_described", "other")

_TEXT = {"type": "string"}
_MAYBE_TEXT = {"type": ["string", "null"]}
_MONEY = {"$ref": "#/$defs/money"}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://aijia.dev/schemas/order-1.json",
    "title": "Aijia order and refund outputs, version 1",
    "oneOf": [{"$ref": "#/$defs/order"}, {"$ref": "#/$defs/refund"}],
    "$defs": {
        "money": {
            "type": "object",
            "description": "An amount as a decimal string with two decimals, and its ISO currency.",
            "required": ["amount", "currency"],
            "additionalProperties": False,
            "properties": {
                "amount": {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$"},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            },
        },
        "item": {
            "type": "object",
            "required": ["sku", "product", "qty", "price"],
            "additionalProperties": False,
            "properties": {
                "sku": _TEXT,
                "product": _TEXT,
                "qty": {"type": "integer", "minimum": 0},
                "price": {**_MONEY, "description": "unit price"},
                "total": {**_MONEY, "description": "line total, where the site shows one"},
            },
        },
        "refund_row": {
            "type": "object",
            "required": ["refund_id", "amount"],
            "additionalProperties": False,
            "properties": {
                "refund_id": _TEXT,
                "amount": _MONEY,
                "reason": _MAYBE_TEXT,
                "at": _MAYBE_TEXT,
            },
        },
        "event": {
            "type": "object",
            "required": ["at", "text"],
            "additionalProperties": False,
            "properties": {"at": _MAYBE_TEXT, "text": _TEXT, "location": _MAYBE_TEXT},
        },
        "order": {
            "type": "object",
            "required": ["schema", "site", "order_id", "status", "status_raw"],
            "additionalProperties": False,
            "properties": {
                "schema": {"const": ORDER},
                "site": _TEXT,
                "order_id": _TEXT,
                "status": {"enum": list(STATUSES)},
                "status_raw": _TEXT,
                "order_date": _MAYBE_TEXT,
                "buyer": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {"name": _TEXT, "email": _MAYBE_TEXT},
                },
                "payment_method": _MAYBE_TEXT,
                "shipping_address": _MAYBE_TEXT,
                "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
                "totals": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        key: _MONEY
                        for key in ("subtotal", "shipping", "total", "refunded", "refundable")
                    },
                },
                "refunds": {"type": "array", "items": {"$ref": "#/$defs/refund_row"}},
                "tracking": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "carrier": _MAYBE_TEXT,
                        "number": _MAYBE_TEXT,
                        "status": _MAYBE_TEXT,
                        "events": {"type": "array", "items": {"$ref": "#/$defs/event"}},
                    },
                },
                "extra": {"type": "object", "description": "site-only values"},
            },
        },
        "refund": {
            "type": "object",
            "required": ["schema", "site", "order_id", "refund_id", "amount", "reason"],
            "additionalProperties": False,
            "properties": {
                "schema": {"const": REFUND},
                "site": _TEXT,
                "order_id": _TEXT,
                "refund_id": _TEXT,
                "amount": _MONEY,
                "reason": {"enum": list(REASONS)},
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["sku"],
                        "additionalProperties": False,
                        "properties": {"sku": _TEXT, "qty": {"type": ["integer", "null"]}},
                    },
                },
                "extra": {"type": "object", "description": "site-only values"},
            },
        },
    },
}


def validate(output: Any) -> None:
    """Raise ValueError naming the key and the rule when `output` is not an order or refund
    document of version 1."""
    import jsonschema

    kind = output.get("schema") if isinstance(output, dict) else None
    target = {ORDER: "order", REFUND: "refund"}.get(str(kind))
    if target is None:
        raise ValueError(
            f"output has schema {kind!r}, expected {ORDER!r} or {REFUND!r}",
        )
    schema = {**SCHEMA, "oneOf": None, "$ref": f"#/$defs/{target}"}
    del schema["oneOf"]
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(output), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:10]
        ]
        raise ValueError(f"output is not a valid {kind} document:\n  " + "\n  ".join(lines))
