"""A hostile "seller center" over real HTTP on 127.0.0.1 that echoes the typed password back.

It signs anyone in, sets a live session cookie, and then repeats the password it was sent in
every place a careless (or malicious) back office might: attribute values (`value=`, `data-*`,
`title`), visible text, a copied non-password input, a password field's own value, inline
`<script>` string literals (double, single and template quotes, `\\uXXXX` and `\\xNN`
escapes), JSON blobs (`ensure_ascii` on and off, escaped slashes, `\\u003c`-style HTML-safe
JSON), base64 blobs (basic-auth style, and embedded at every alignment in a longer blob), URL
query strings (`quote`, `quote_plus`, `%uXXXX`), numeric and named character references, the
page title, a cookie, the console, a fetch body and its JSON answer, an image URL, and a
second form posted in latin-1 (windows-1252) whose answer is served in latin-1 too.

`HostileSite().start()`; `.url`; `.reset()` between tests; `.sessions` holds the live session
ids handed out (a test checks none of them survives in what the agent stored).
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

USER = "buyer-support@hostile.test"


def entities(value: str) -> str:
    """Every character as a character reference: decimal, hex (upper and lower) and named
    ones, with and without leading zeros, as hostile pages write them."""
    named = {'"': "&quot;", "&": "&AMP;", "<": "&lt", "'": "&apos;", "é": "&eacute;"}
    out = []
    for i, ch in enumerate(value):
        if ch in named and i % 2 == 0:
            out.append(named[ch])
        elif i % 3 == 0:
            out.append(f"&#{ord(ch)};")
        elif i % 3 == 1:
            out.append(f"&#x{ord(ch):X};")
        else:
            out.append(f"&#X00{ord(ch):x};")
    return "".join(out)


def js_escaped(value: str) -> str:
    """A JS string literal body with every character escaped (`\\uXXXX` and `\\xNN`)."""
    return "".join(
        f"\\x{ord(ch):02x}" if ord(ch) < 256 and i % 2 else f"\\u{ord(ch):04X}"
        for i, ch in enumerate(value)
    )


def embedded_base64(value: str) -> list[str]:
    """The secret inside longer base64 blobs, at each of the three byte alignments."""
    raw = value.encode("utf-8")
    return [
        base64.b64encode(b"\x00prefix"[: 4 + k] + raw + b"-suffix-bytes").decode() for k in range(3)
    ] + [base64.urlsafe_b64encode(b"xy" + raw + b"\xff\xfe").decode()]


def echo_page(password: str) -> str:
    """The page shown after signing in: the password in every place at once."""
    attr = html.escape(password, quote=True)
    text = html.escape(password, quote=False)
    as_json = json.dumps({"password": password, "again": [password]})
    as_json_raw = json.dumps({"password": password}, ensure_ascii=False).replace("/", "\\/")
    html_safe_json = (
        json.dumps({"pw": password}).replace("<", "\\u003c").replace("&", "\\u0026")
    ).replace("'", "\\u0027")
    basic = base64.b64encode(f"{USER}:{password}".encode()).decode()
    blobs = json.dumps(embedded_base64(password))
    js_single = password.replace("\\", "\\\\").replace("'", "\\'")
    js_template = password.replace("\\", "\\\\").replace("`", "\\`")
    old_escape = "".join(f"%u{ord(c):04X}" if ord(c) > 255 else quote(c, safe="") for c in password)
    return f"""<!doctype html><html><head><meta charset=utf-8>
<title>Welcome {text}</title>
<script>
  var pw = {json.dumps(password)};
  var pw2 = '{js_single}';
  var pw3 = `{js_template}`;
  var pw4 = "{js_escaped(password)}";
  var cfg = {html_safe_json};
  var auth = "Basic {basic}";
  var blobs = {blobs};
  var old = "{old_escape}";
  console.log("typed", pw);
</script>
<script type=application/json id=state>{as_json}</script>
<script type=application/json id=state-raw>{as_json_raw}</script>
</head><body>
<h1>Welcome</h1>
<p id=shown data-pw="{attr}" title="{attr}">You typed: {text}</p>
<p id=refs>Again: {entities(password)}</p>
<label>Again <input id=again name=again value="{attr}"></label>
<label>Copy <input id=copy name=copy></label>
<label>Hidden password <input type=password name=pw2 value="{attr}"></label>
<label>Notes <textarea name=notes>{text}</textarea></label>
<a href="/next?p={quote(password, safe="")}&amp;q={quote_plus(password)}">next {text}</a>
<img alt="" src="/pixel?p={quote(password, safe="")}" width=1 height=1>
<p>Go <a href="/latin1">to the latin-1 form</a>.</p>
<script>
  document.getElementById('copy').value = pw;
  document.querySelector('[name=pw2]').value = pw;
  document.body.setAttribute('data-echo', pw);
  fetch('/api/echo', {{method: 'POST', headers: {{'Content-Type': 'application/json'}},
    body: JSON.stringify({{password: pw, auth: auth}})}});
</script>
</body></html>"""


# The login page spies on its own JavaScript world: every string handed to a string, regex
# or selector function is sent back to the server. The agent registers the password before the
# first capture of this page (before typing it), so if masking ever ran a search for it in the
# page's world, the server would hear of it.
SPY = """<script>
(() => {
  const seen = new Set(['spy-alive']);
  const note = (v) => { if (typeof v === 'string' && v.length >= 4) seen.add(v); };
  const wrap = (owner, name) => {
    const original = owner[name];
    if (typeof original !== 'function') return;
    owner[name] = function (...args) {
      note(String(this));
      args.forEach(note);
      return original.apply(this, args);
    };
  };
  ['includes', 'indexOf', 'lastIndexOf', 'toLowerCase', 'toUpperCase', 'normalize', 'match',
   'matchAll', 'replace', 'replaceAll', 'split', 'search', 'startsWith', 'endsWith', 'trim',
   'localeCompare'].forEach((n) => wrap(String.prototype, n));
  ['test', 'exec'].forEach((n) => wrap(RegExp.prototype, n));
  ['querySelector', 'querySelectorAll', 'evaluate', 'getElementById']
    .forEach((n) => wrap(Document.prototype, n));
  ['querySelector', 'querySelectorAll', 'matches', 'closest', 'getAttribute']
    .forEach((n) => wrap(Element.prototype, n));
  ['parse', 'stringify'].forEach((n) => wrap(JSON, n));
  const flush = () => {
    if (!seen.size) return;
    navigator.sendBeacon('/spy', [...seen].join('\\n'));
    seen.clear();
  };
  setInterval(flush, 50);
  addEventListener('pagehide', flush);
})();
</script>"""

LOGIN = (
    """<!doctype html><html><head><meta charset=utf-8><title>Sign in</title>"""
    + SPY
    + """
</head><body>
<h1>Sign in</h1>
<form method=post action=/login>
<label>Username <input name=username></label>
<label>Password <input name=password type=password></label>
<button type=submit>Sign in</button></form></body></html>"""
)

LATIN1_FORM = """<!doctype html><html><head><meta charset=iso-8859-1><title>Old form</title>
</head><body><h1>Old form</h1>
<form method=post action=/latin1 accept-charset="ISO-8859-1">
<label>Secret <input name=secret type=password></label>
<label>Echo <input name=echo></label>
<button type=submit>Send</button></form></body></html>"""


def latin1_echo(password: str) -> bytes:
    """The latin-1 form's answer, in latin-1 (windows-1252, as browsers read that label)."""
    literal = password.replace("\\", "\\\\").replace('"', '\\"')
    page = f"""<!doctype html><html><head><meta charset=iso-8859-1><title>Old echo</title>
</head><body><h1>Old echo</h1><p data-pw="{html.escape(password)}">{html.escape(password)}</p>
<p>raw: {password}</p><script>var pw = "{literal}";</script></body></html>"""
    return page.encode("cp1252", errors="xmlcharrefreplace")


class State:
    def __init__(self) -> None:
        self.sessions: list[str] = []
        self.password = ""  # the last password posted to /login
        self.posts: list[bytes] = []
        self.spied: list[str] = []  # strings the login page's own scripts were handed


class Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, *args: Any) -> None:  # keep pytest's output clean
        pass

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _html(self, body: str, headers: dict[str, str] | None = None) -> None:
        self._send(200, body.encode("utf-8"), "text/html; charset=utf-8", headers)

    def _body(self) -> bytes:
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.state.posts.append(data)
        return data

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/login":
            return self._html(LOGIN)
        if path == "/welcome":
            return self._html(echo_page(self.state.password))
        if path == "/latin1":
            body = LATIN1_FORM.encode("latin-1")
            return self._send(200, body, "text/html; charset=iso-8859-1")
        if path == "/pixel":
            gif = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
            return self._send(200, gif, "image/gif")
        return self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        if path == "/login":
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
            self.state.password = form.get("password", "")
            sid = secrets.token_hex(16)
            self.state.sessions.append(sid)
            cookies = [
                f"sid={sid}; Path=/; HttpOnly",
                f"echo={quote(self.state.password, safe='')}; Path=/",
            ]
            self.send_response(303)
            self.send_header("Location", f"/welcome?p={quote_plus(self.state.password)}")
            for cookie in cookies:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if path == "/latin1":
            form = {k: v[0] for k, v in parse_qs(body.decode("ascii"), encoding="cp1252").items()}
            page = latin1_echo(form.get("secret", ""))
            return self._send(200, page, "text/html; charset=iso-8859-1")
        if path == "/spy":
            self.state.spied += body.decode("utf-8", errors="replace").split("\n")
            return self._send(204, b"", "text/plain")
        if path == "/api/echo":
            payload = json.loads(body or b"{}")
            answer = json.dumps({"ok": True, "echo": payload, "sid": self.state.sessions[-1:]})
            return self._send(200, answer.encode(), "application/json")
        return self._send(404, b"not found", "text/plain")


class HostileSite:
    def __init__(self) -> None:
        self.state = State()
        handler = type("HostileHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def sessions(self) -> list[str]:
        return list(self.state.sessions)

    def start(self) -> HostileSite:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        self.state.__init__()  # type: ignore[misc]
