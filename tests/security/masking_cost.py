"""What masking costs on a big page: `python -m tests.security.masking_cost` (not a test).

Builds a 2 MB back-office-like DOM (tables, attributes, links with query strings, character
references, inline JSON) with three secrets echoed a few times, then measures, in CPU time
(median of several runs): the store's masking of the DOM, of the same page as MHTML and inside
a trace; the runner's masker on the page as text; and, as a yardstick for this machine, one
`bytes.find` over the page.
"""

from __future__ import annotations

import html
import io
import json
import quopri
import random
import statistics
import time
import zipfile
from collections.abc import Callable
from urllib.parse import quote

from agent.core.secrets import Masker
from evidence.artifacts import prepare_content
from evidence.redaction import Redactor

SECRETS = ["pa\"ss'w&rd<é€ 42", "Hunter2-Secret!", "tok_3f9a8b7c6d5e4f3a2b1c"]
SIZE = 2_000_000


def back_office_page(size: int = SIZE, seed: int = 7) -> str:
    rng = random.Random(seed)
    words = [
        "order",
        "refund",
        "shipped",
        "paid",
        "pending",
        "customer",
        "address",
        "parcel",
        "tracking",
        "note",
    ]
    rows = []
    while sum(map(len, rows)) < size:
        n = rng.randint(10**9, 10**10)
        text = " ".join(rng.choices(words, k=rng.randint(3, 12)))
        rows.append(
            f'<tr class="row" data-id="{n}"><td><a href="/orders/{n}?tab=items&amp;ref=%2Fhome">'
            f"{n}</a></td><td>{html.escape(text)} &amp; more &nbsp;</td>"
            f'<td data-total="{n % 997}.00">RM {n % 997}.00</td>'
            f"<td><script>var o{n} = {json.dumps({'id': n, 'note': text + ' é'})};</script></td>"
            f"</tr>\n"
        )
    body = "".join(rows)
    echoes = [
        f'<input name=again value="{html.escape(SECRETS[0])}">',
        f"<p>{html.escape(SECRETS[1])}</p>",
        f'<a href="/x?t={quote(SECRETS[2])}">x</a>',
    ]
    third = len(body) // 3
    body = body[:third] + echoes[0] + body[third : 2 * third] + echoes[1] + body[2 * third :]
    return f"<html><body><table>{body}</table>{echoes[2]}</body></html>"


def cpu_ms(fn: Callable[[], object], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1000


def main() -> None:
    page = back_office_page()
    data = page.encode()
    redactor = Redactor()
    for secret in SECRETS:
        redactor.register(secret)
    masker = Masker()
    masker.extend(SECRETS)
    mhtml = (
        b'Content-Type: multipart/related; boundary="B"\r\n\r\n--B\r\nContent-Type: text/html\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        + quopri.encodestring(data).replace(b"\n", b"\r\n")
        + b"\r\n--B--\r\n"
    )
    trace = io.BytesIO()
    with zipfile.ZipFile(trace, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("resources/page.html", data)
        zf.writestr("trace.trace", json.dumps({"type": "after", "result": {"value": page}}))
    masked = prepare_content(data, kind="dom", media_type="text/html", redactor=redactor)
    assert all(s.encode() not in masked for s in SECRETS) and masked.count(b"******") == 3
    print(f"page: {len(data) / 1e6:.1f} MB, {len(SECRETS)} secrets, CPU ms (median of 7)")
    print(f"  yardstick, one bytes.find:      {cpu_ms(lambda: data.find(b'zz-not-there')):7.1f}")
    print(f"  Redactor.mask_bytes (DOM):      {cpu_ms(lambda: redactor.mask_bytes(data)):7.1f}")
    print(
        "  prepare_content, DOM:           "
        f"{cpu_ms(lambda: prepare_content(data, kind='dom', media_type='text/html', redactor=redactor)):7.1f}"  # noqa: E501
    )
    print(
        "  prepare_content, MHTML:         "
        f"{cpu_ms(lambda: prepare_content(mhtml, kind='mhtml', media_type='multipart/related', redactor=redactor)):7.1f}"  # noqa: E501
    )
    print(
        "  prepare_content, trace (2 x page): "
        f"{cpu_ms(lambda: prepare_content(trace.getvalue(), kind='trace', media_type='application/zip', redactor=redactor)):4.1f}"  # noqa: E501
    )
    print(f"  runner's Masker.text (str):     {cpu_ms(lambda: masker.text(page)):7.1f}")


if __name__ == "__main__":
    main()
