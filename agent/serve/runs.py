"""One run's evidence in the console: its timeline, and the full report.

    GET /runs/{run_id}          the timeline: every event in chain order (time, kind, what),
                                the run's gates with links to their pages (signed-in only)
    GET /runs/{run_id}/report   the evidence report of `aijia evidence report` (screenshots
                                embedded), served under the report's own inert CSP

Both read `evidence.timeline.build_timeline`, the source of the terminal view and the
bundle's report, so the console shows the same facts. Seller strings are autoescaped text.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from agent.core.errors import EvidenceError
from agent.serve.pages import aijia_of, redirect_to_sign_in, render, signed_in
from evidence.dom import INERT_CSP
from evidence.report import standalone_report
from evidence.timeline import build_timeline

if TYPE_CHECKING:
    from starlette.requests import Request

SUMMARY_CHARS = 300  # a value longer than this is cut on the timeline (the report has it all)


def short(value: Any) -> str:
    """A value on one line, cut to SUMMARY_CHARS (escaped by the template, not here)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


async def run_page(request: Request) -> Response:
    me = await signed_in(request)
    if me is None:
        return redirect_to_sign_in(request)
    store = aijia_of(request).store
    run_id = request.path_params["run_id"]
    try:
        timeline = build_timeline(store, run_id)
    except EvidenceError as exc:
        return render(request, "run_missing.html", status_code=404, me=me, error=exc.message)
    rows = [
        {
            "seq": e.event.seq,
            "at": e.event.at,
            "kind": e.event.kind,
            "title": short(e.title),
            "fields": [(str(k), short(v)) for k, v in e.values.items()],
            "shots": len(e.event.artifacts),
        }
        for e in timeline.entries
    ]
    return render(
        request,
        "run.html",
        me=me,
        run=timeline.run,
        rows=rows,
        gates=timeline.gates,
        sealed=timeline.root_hash,
    )


async def run_report(request: Request) -> Response:
    """The self-contained report; its CSP (no script, images only as data URIs, the report's
    inline style) replaces the console's, since the page is inert evidence, not the app."""
    me = await signed_in(request)
    if me is None:
        return redirect_to_sign_in(request)
    store = aijia_of(request).store
    run_id = request.path_params["run_id"]
    try:
        store.get_run(run_id)
        page = standalone_report(store, [run_id])
    except EvidenceError as exc:
        return render(request, "run_missing.html", status_code=404, me=me, error=exc.message)
    csp = f"{INERT_CSP}; frame-ancestors 'none'"
    return HTMLResponse(page, headers={"content-security-policy": csp})


routes: list[BaseRoute] = [
    Route("/runs/{run_id}", run_page, methods=["GET"]),
    Route("/runs/{run_id}/report", run_report, methods=["GET"]),
]
