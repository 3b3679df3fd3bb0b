// Live update of the queue (GET / -> /queue.json): every few seconds the table body is rebuilt
// from the JSON rows. Every cell is filled with textContent, never innerHTML: the customer's
// ask and other seller strings stay text. Without JavaScript the page works as it is (Refresh).
"use strict";

(function () {
  const table = document.getElementById("queue");
  if (!table) return;
  const source = table.dataset.source || "/queue.json";
  const every = Math.max(1, Number(table.dataset.refreshS) || 3) * 1000;
  const status = document.getElementById("queue-status");
  const mine = source.indexOf("mine=1") !== -1;

  function cell(tag, text, className) {
    const node = document.createElement(tag);
    node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function rowOf(r) {
    const tr = document.createElement("tr");
    tr.dataset.gate = r.gate_id;
    const head = document.createElement("th");
    head.scope = "row";
    const link = document.createElement("a");
    link.href = "/gates/" + encodeURIComponent(r.gate_id);
    link.textContent = r.summary || r.gate_id;
    head.appendChild(link);
    tr.appendChild(head);
    tr.appendChild(cell("td", r.site));
    tr.appendChild(cell("td", r.action));
    tr.appendChild(cell("td", r.amount, "num"));
    const waited = cell("td", "", "when");
    const time = document.createElement("time");
    time.dateTime = r.created_at;
    time.textContent = r.age;
    waited.appendChild(time);
    tr.appendChild(waited);
    tr.appendChild(cell("td", r.ask, "ask"));
    tr.appendChild(cell("td", r.initiator));
    tr.appendChild(cell("td", r.approvals));
    return tr;
  }

  let shown = "";

  function show(data) {
    const text = data.count + " waiting.";
    if (status && status.textContent !== text) status.textContent = text;
    const seen = JSON.stringify(data.rows);
    if (seen === shown) return; // nothing changed: keep the DOM (and the keyboard focus)
    shown = seen;
    // a keyboard user on a row's link stays on that gate's link after the rebuild
    const focused = document.activeElement;
    const old = table.tBodies[0];
    const row = focused && old.contains(focused) ? focused.closest("tr") : null;
    const keep = row ? row.dataset.gate : null;
    const body = document.createElement("tbody");
    for (const r of data.rows) body.appendChild(rowOf(r));
    if (!data.rows.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = cell("td", "Nothing is waiting" + (mine ? " for you." : "."));
      td.colSpan = 8;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    table.replaceChild(body, old);
    if (keep) {
      for (const tr of body.rows) {
        if (tr.dataset.gate === keep) tr.querySelector("a").focus();
      }
    }
  }

  async function refresh() {
    try {
      const response = await fetch(source, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.status === 401) {
        window.location.reload(); // signed out: the page sends us to the sign-in form
        return;
      }
      if (response.ok) show(await response.json());
    } catch (err) {
      if (status) status.textContent = "Live update paused (the console did not answer).";
    }
    window.setTimeout(refresh, every);
  }

  window.setTimeout(refresh, every);
})();
