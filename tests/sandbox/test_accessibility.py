"""The accessibility contract the agent relies on: labelled controls, named buttons and links,
real tables, and detail values reachable by label (non-exact label queries stay unique)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from sandbox.testing import SandboxServer, login

AUDIT = """() => {
  const problems = [];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || !visible(el)) continue;
    const labels = Array.from(el.labels || []).filter((l) => l.textContent.trim() && visible(l));
    if (!labels.length) problems.push('unlabelled ' + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (visible(el) && !(el.textContent.trim() || el.getAttribute('aria-label')))
      problems.push('nameless ' + el.outerHTML.slice(0, 80));
  }
  for (const table of document.querySelectorAll('table')) {
    if (!table.querySelector('th')) problems.push('table without th');
  }
  for (const el of document.querySelectorAll('[aria-labelledby]')) {
    for (const id of el.getAttribute('aria-labelledby').split(/\\s+/)) {
      if (!document.getElementById(id)) problems.push('dangling aria-labelledby ' + id);
    }
  }
  return problems;
}"""

KEY_LABELS = {
    "shoplane": (
        "Order ID",
        "Order status",
        "Order total",
        "Refundable amount",
        "Refunded so far",
        "Payment method",
        "Shipping address",
        "Buyer name",
        "Tracking status",
        "Tracking number",
        "Carrier",
    ),
    "markethub": (
        "Order ID",
        "Order status",
        "Grand total",
        "Refundable amount",
        "Refunded total",
        "Payment method",
        "Shipping address",
        "Buyer name",
        "Shipment status",
        "Tracking ID",
        "Carrier",
    ),
    "storefront": (
        "Order number",
        "Payment status",
        "Fulfillment status",
        "Order total",
        "Refundable amount",
        "Refunded amount",
        "Payment method",
        "Shipping address",
        "Delivery status",
        "Tracking number",
        "Carrier",
    ),
}
REFUND_PAGE = {"shoplane": "/refund", "markethub": "/refund", "storefront": None}


def audit(page: Page) -> None:
    assert page.evaluate(AUDIT) == [], page.url


@pytest.mark.parametrize("flavor", ["shoplane", "markethub", "storefront"])
def test_pages_follow_the_contract(sandbox: SandboxServer, page: Page, flavor: str) -> None:
    page.goto(sandbox.url(flavor, "/"))
    audit(page)  # login page
    login(page, sandbox, flavor)
    audit(page)  # orders list
    order = sandbox.find_orders(flavor, "in_transit")[0]
    links = page.locator("table tbody tr td a").first
    expect(links).to_have_text(links.inner_text().strip())
    for layout in ("v1", "v2"):
        sandbox.set_faults(flavor, layout=layout)
        page.goto(sandbox.url(flavor, order.url_path))
        expect(page.get_by_label("Carrier")).not_to_have_text("")
        for label in KEY_LABELS[flavor]:
            expect(page.get_by_label(label)).to_have_count(1)
            expect(page.get_by_label(label)).not_to_be_empty()
        audit(page)
    refund_page = REFUND_PAGE[flavor]
    if refund_page:
        page.goto(sandbox.url(flavor, order.url_path + refund_page))
    else:
        page.get_by_role("button", name="Refund", exact=True).click()
        expect(page.get_by_role("dialog")).to_be_visible()
    audit(page)
