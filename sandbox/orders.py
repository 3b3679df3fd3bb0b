"""Orders as the seller centers read and change them: search, detail, refunds, notes.

Every flavor calls these; they differ only in how they show the result. Refund rules (the
server-side validation every flavor applies, messages shown to the user as written here):

- the amount must parse (`money.parse_amount`) and be greater than 0;
- reason required;
- no refund on an unpaid or cancelled order, nor when nothing has been paid (COD in transit);
- amount <= refundable remaining (paid minus refunds so far);
- an identical refund (same order, amount and reason) already issued is rejected;
- an optional reference (a note the seller writes with the refund, e.g. a ticket number; at
  most 64 characters) is kept with it and shown in the order's refunds table, so that whoever
  wrote it can find their own refund again; a second refund with the same reference on the
  order is rejected (it works as an idempotency key);
- with the fault `refund_declined` on, the payment provider declines every refund
  (`DECLINED`): the form answers with that message and nothing is written.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from sandbox import db
from sandbox.money import format_money, parse_amount
from sandbox.seed import refund_id_for

REASONS = {
    "not_received": "Item not received",
    "damaged": "Damaged item",
    "wrong_item": "Wrong item sent",
    "not_as_described": "Not as described",
    "other": "Other",
}
STATUSES = ("unpaid", "to_ship", "shipping", "completed", "cancelled")
MAX_REFERENCE = 64
DECLINED = "The payment provider declined this refund (code PD-51). It was not issued."


class RefundRejected(Exception):
    """A refund the rules above refuse; `errors` maps a form field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass
class Order:
    row: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    return_request: dict[str, Any] | None = None

    def __getattr__(self, name: str) -> Any:
        """Columns read as attributes: `order.status`, `order.currency` …"""
        if name == "row":  # not set yet (copying): avoid recursing
            raise AttributeError(name)
        try:
            return self.row[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def refunded(self) -> int:
        return sum(int(r["amount"]) for r in self.refunds)

    @property
    def refundable(self) -> int:
        if self.row["status"] in ("unpaid", "cancelled"):
            return 0
        return max(int(self.row["paid"]) - self.refunded, 0)

    @property
    def refund_state(self) -> str:
        """ "none", "partial" or "full"."""
        if not self.refunds:
            return "none"
        return "full" if self.refunded >= int(self.row["total"]) else "partial"

    @property
    def latest_event(self) -> dict[str, Any] | None:
        return self.events[-1] if self.events else None

    def money(self, minor: int) -> str:
        return format_money(minor, self.row["currency"], self.row["flavor"])


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    per_page: int
    exact: bool  # the query matched one order id exactly

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.page * self.per_page, self.total)


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    return [dict(r) for r in cursor.fetchall()]


def normalize_id(flavor: str, text: str) -> str:
    text = text.strip()
    if flavor == "storefront" and text.isdigit():
        return f"#{text}"
    return text.upper() if flavor == "shoplane" else text


def get_order(
    conn: sqlite3.Connection, flavor: str, *, ref: str | None = None, order_id: str | None = None
) -> Order | None:
    if ref is not None:
        row = conn.execute(
            "SELECT * FROM orders WHERE flavor = ? AND ref = ?", (flavor, ref)
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT * FROM orders WHERE flavor = ? AND order_id = ?",
            (flavor, normalize_id(flavor, order_id or "")),
        ).fetchone()
    if row is None:
        return None
    key = (flavor, row["order_id"])
    order = Order(dict(row))
    order.items = _rows(
        conn.execute("SELECT * FROM items WHERE flavor = ? AND order_id = ? ORDER BY line", key)
    )
    order.events = _rows(
        conn.execute("SELECT * FROM events WHERE flavor = ? AND order_id = ? ORDER BY at", key)
    )
    order.refunds = _rows(
        conn.execute(
            "SELECT * FROM refunds WHERE flavor = ? AND order_id = ? ORDER BY created_at", key
        )
    )
    for refund in order.refunds:
        refund["reference"] = str(json.loads(refund["detail"] or "{}").get("reference", ""))
    order.notes = _rows(
        conn.execute("SELECT * FROM notes WHERE flavor = ? AND order_id = ? ORDER BY note_id", key)
    )
    request = conn.execute(
        "SELECT * FROM return_requests WHERE flavor = ? AND order_id = ?", key
    ).fetchone()
    order.return_request = dict(request) if request else None
    return order


def search_orders(
    conn: sqlite3.Connection,
    flavor: str,
    *,
    query: str = "",
    statuses: tuple[str, ...] = (),
    return_requests_only: bool = False,
    since: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page:
    """Newest first. An exact order id wins; otherwise a partial match on id, buyer, email,
    tracking number or SKU."""
    where = ["o.flavor = ?"]
    args: list[Any] = [flavor]
    query = query.strip()
    exact = False
    if query:
        exact_row = conn.execute(
            "SELECT 1 FROM orders WHERE flavor = ? AND order_id = ?",
            (flavor, normalize_id(flavor, query)),
        ).fetchone()
        if exact_row:
            exact = True
            where.append("o.order_id = ?")
            args.append(normalize_id(flavor, query))
        else:
            like = f"%{query}%"
            where.append(
                "(o.order_id LIKE ? OR o.buyer_name LIKE ? OR o.buyer_email LIKE ? "
                "OR o.tracking_number LIKE ? OR EXISTS (SELECT 1 FROM items i WHERE "
                "i.flavor = o.flavor AND i.order_id = o.order_id AND "
                "(i.sku LIKE ? OR i.title LIKE ?)))"
            )
            args.extend([like] * 6)
    if statuses:
        where.append(f"o.status IN ({','.join('?' * len(statuses))})")
        args.extend(statuses)
    if return_requests_only:
        where.append(
            "EXISTS (SELECT 1 FROM return_requests r WHERE r.flavor = o.flavor AND "
            "r.order_id = o.order_id AND r.status IN ('pending', 'offered'))"
        )
    if since:
        where.append("o.created_at >= ?")
        args.append(since)
    clause = " AND ".join(where)
    total = conn.execute(f"SELECT COUNT(*) FROM orders o WHERE {clause}", args).fetchone()[0]
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = _rows(
        conn.execute(
            f"SELECT o.*, (SELECT COALESCE(SUM(amount), 0) FROM refunds f WHERE f.flavor = o.flavor"
            f" AND f.order_id = o.order_id) AS refunded FROM orders o WHERE {clause} "
            "ORDER BY o.seq DESC LIMIT ? OFFSET ?",
            [*args, per_page, (page - 1) * per_page],
        )
    )
    return Page(rows, total, page, pages, per_page, exact)


def check_refund(
    order: Order, amount_text: str, reason: str, *, status_label: str
) -> tuple[int, dict[str, str]]:
    """Parse and validate a refund request; returns (amount, errors by field)."""
    errors: dict[str, str] = {}
    amount = 0
    if order.status in ("unpaid", "cancelled"):
        errors["order"] = f"This order cannot be refunded because it is {status_label}."
    elif int(order.paid) == 0:
        errors["order"] = (
            "This order cannot be refunded because payment has not been collected yet."
        )
    try:
        amount = parse_amount(amount_text)
    except ValueError as exc:
        errors["amount"] = str(exc)
    else:
        if amount <= 0:
            errors["amount"] = "Enter an amount greater than 0."
        elif "order" not in errors and amount > order.refundable:
            errors["amount"] = (
                f"The amount exceeds the refundable amount of {order.money(order.refundable)}."
            )
    if not reason:
        errors["reason"] = "Select a reason for the refund."
    elif reason not in REASONS:
        errors["reason"] = "Select a reason from the list."
    return amount, errors


def read_reference(text: Any) -> tuple[str, dict[str, str]]:
    """The refund form's optional reference field: (reference, errors by field)."""
    reference = " ".join(str(text or "").split())
    if len(reference) > MAX_REFERENCE:
        return reference, {"reference": f"A reference can be at most {MAX_REFERENCE} characters."}
    return reference, {}


def create_refund(
    conn: sqlite3.Connection,
    order: Order,
    amount: int,
    reason: str,
    *,
    actor: str,
    source: str = "web",
    detail: dict[str, Any] | None = None,
    status_label: str = "",
    reference: str = "",
    declined: bool = False,
) -> str:
    """Validate again inside one transaction and write the refund; returns its id.
    `reference` is kept in its detail; `declined` (the fault) refuses it as the payment
    provider would."""
    if declined:
        raise RefundRejected({"order": DECLINED})
    if reference:
        detail = {**(detail or {}), "reference": reference}
    flavor = order.flavor
    with db.atomic(conn):
        fresh = get_order(conn, flavor, order_id=order.order_id)
        if fresh is None:
            raise RefundRejected({"order": "This order no longer exists."})
        _, errors = check_refund(
            fresh, f"{amount / 100:.2f}", reason, status_label=status_label or fresh.status
        )
        for previous in fresh.refunds:
            if reference and previous["reference"] == reference:
                errors["reference"] = (
                    f"A refund with the reference {reference!r} was already issued on this "
                    f"order as {previous['refund_id']}."
                )
            if int(previous["amount"]) == amount and previous["reason"] == reason:
                errors["order"] = (
                    f"An identical refund ({fresh.money(amount)}, {REASONS[reason]}) was "
                    f"already issued on this order as {previous['refund_id']}."
                )
        if errors:
            raise RefundRejected(errors)
        number = int(db.get_meta(conn, f"refund_counter:{flavor}", "0")) + 1
        db.set_meta(conn, f"refund_counter:{flavor}", str(number))
        refund_id = refund_id_for(flavor, fresh.order_id, number)
        conn.execute(
            "INSERT INTO refunds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                refund_id,
                flavor,
                fresh.order_id,
                amount,
                fresh.currency,
                reason,
                json.dumps(detail or {}, sort_keys=True),
                db.iso(db.utc_now()),
                actor,
                source,
            ),
        )
        if fresh.return_request and fresh.return_request["status"] in ("pending", "offered"):
            conn.execute(
                "UPDATE return_requests SET status = 'refunded' WHERE flavor = ? AND order_id = ?",
                (flavor, fresh.order_id),
            )
    return refund_id


def get_refund(conn: sqlite3.Connection, flavor: str, refund_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT * FROM refunds WHERE flavor = ? AND refund_id = ?", (flavor, refund_id)
    ).fetchone()
    return dict(row) if row else None


def add_note(
    conn: sqlite3.Connection, order: Order, body: str, *, author: str, source: str = "web"
) -> int:
    body = body.strip()
    if not body:
        raise ValueError("Write a note before saving.")
    if len(body) > 2000:
        raise ValueError("Notes can be at most 2000 characters.")
    cursor = conn.execute(
        "INSERT INTO notes (flavor, order_id, body, author, created_at, source) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (order.flavor, order.order_id, body, author, db.iso(db.utc_now()), source),
    )
    return int(cursor.lastrowid or 0)


def offer_partial_refund(conn: sqlite3.Connection, order: Order, amount_text: str) -> int:
    """Answer a buyer's return request with a smaller offer (ShopLane). Returns the amount."""
    request = order.return_request
    if request is None or request["status"] != "pending":
        raise RefundRejected({"order": "There is no pending return request on this order."})
    try:
        amount = parse_amount(amount_text)
    except ValueError as exc:
        raise RefundRejected({"offer": str(exc)}) from None
    if amount <= 0 or amount >= int(request["requested_amount"]):
        raise RefundRejected(
            {
                "offer": "An offer must be more than 0 and less than the "
                f"requested {order.money(int(request['requested_amount']))}."
            }
        )
    conn.execute(
        "UPDATE return_requests SET status = 'offered', offer_amount = ? "
        "WHERE flavor = ? AND order_id = ?",
        (amount, order.flavor, order.order_id),
    )
    return amount


def set_status(conn: sqlite3.Connection, order: Order, status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    paid = 0 if status in ("unpaid",) else order.paid
    conn.execute(
        "UPDATE orders SET status = ?, paid = ? WHERE flavor = ? AND order_id = ?",
        (status, paid, order.flavor, order.order_id),
    )


def ledger(conn: sqlite3.Connection, flavor: str, *, include_seed: bool = False) -> dict[str, Any]:
    """Refunds, notes and return-request answers written since the seed (or all of them)."""
    source = "" if include_seed else " AND source != 'seed'"
    refunds = _rows(
        conn.execute(
            f"SELECT refund_id, order_id, amount, currency, reason, detail, created_at, "
            f"created_by, source FROM refunds WHERE flavor = ?{source} ORDER BY created_at, "
            "refund_id",
            (flavor,),
        )
    )
    for refund in refunds:
        refund["detail"] = json.loads(refund["detail"])
        refund["reference"] = str(refund["detail"].pop("reference", ""))
        refund["amount"] = f"{refund['amount'] / 100:.2f}"
    notes = _rows(
        conn.execute(
            f"SELECT note_id, order_id, body, author, created_at, source FROM notes "
            f"WHERE flavor = ?{source} ORDER BY note_id",
            (flavor,),
        )
    )
    offers = _rows(
        conn.execute(
            "SELECT order_id, status, offer_amount FROM return_requests WHERE flavor = ? AND "
            "status != 'pending' ORDER BY order_id",
            (flavor,),
        )
    )
    for offer in offers:
        if offer["offer_amount"] is not None:
            offer["offer_amount"] = f"{offer['offer_amount'] / 100:.2f}"
    return {"flavor": flavor, "refunds": refunds, "notes": notes, "return_requests": offers}
