"""From a recording (Playwright's recorder, JSONL) to recipe YAML: `aijia recipes record`.

    parse_recording(text) -> list[dict]        the actions of a `playwright codegen --target
                                               jsonl` file (or of agent/recipes/recording.py)
    translate(actions, name=, site=, base_url=, session=) -> str   the recipe, as YAML text

One JSON object a line, as Playwright's JSONL generator writes it (packages/isomorphic/
codegen/jsonl.ts): the action (`name`: openPage, navigate, click, fill, check, uncheck,
select, press, assertVisible, assertText …; `url`, `text`, `options`, `key`), `signals`, and
`locator`: `{kind, body, options, next}` (kind role/label/text/placeholder/test-id/default …;
`next` chains a narrower locator). The first line (the generator's header) has no `name`.

What the translation does, and why:

* locators become recipe selectors: getByRole -> {role, name}, getByLabel -> {label}, text,
  placeholder, test id; a chain -> `within`; anything else is kept as {css: <the recorder's
  own selector>} and flagged `# CHECK:` (it breaks when the layout changes);
* clicks that only focus a field before typing, and the implicit submit click after Enter,
  are dropped (they are not steps a person meant);
* every value typed or chosen becomes an input (named after its field) and each later use of
  it (a link name, a URL) `{{ inputs.… }}`: the recipe works for any order, not the recorded
  one, and no recorded value is written to the file;
* a value typed into a password-like field becomes `secret: password` (the site's credential,
  typed at run time, never logged) and is never written; a login at the start of the recording
  is dropped when the recipe reuses a saved session (`session: login`);
* the `gate` goes before the first click that is not known to be safe: a button whose name
  looks mutating (Refund, Submit, Save, Confirm, Issue, Send, Delete …), or the first click
  after a form was filled, unless more fields follow it (then it only opened the form);
  other clicks before the gate are `safe: true` with a `# CHECK:` comment, so that the author
  confirms each; the recipe gets a `commits:` request to complete (CHANGE ME);
* seller text is data: a recorded name that holds template markers is quoted as a template
  string literal, never evaluated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

from agent.core.errors import Problem, RecipeError

# A field whose name says it holds a secret: its value is never written.
SECRET_FIELD = re.compile(r"pass(word|code|phrase)?\b|\bpin\b|secret|token|otp|api.?key", re.I)
# A button that looks like it changes something: the gate goes before it.
MUTATING = re.compile(
    r"\b(refund|submit|save|confirm|issue|send|delete|remove|cancel order|approve|pay|"
    r"update|apply|create|add|post|publish|ship|reply|archive)\b",
    re.I,
)
# The account field of a sign-in form (typed before the password): the site's username.
ACCOUNT_FIELD = re.compile(r"e-?mail|user|login|account", re.I)
# Clicks that sign in (the login part of a recording).
SIGN_IN = re.compile(r"\b(log ?in|sign ?in|continue|next)\b", re.I)
# A field where Enter runs a search (pressing Enter elsewhere may submit a form).
SEARCH = re.compile(r"search|find|filter|lookup|query", re.I)
FIELD_ACTIONS = {"fill", "select", "check", "uncheck"}
ACTS = {"click", "press"}
KNOWN = FIELD_ACTIONS | ACTS | {"navigate", "openPage", "assertVisible", "assertText"}


def parse_recording(text: str) -> list[dict[str, Any]]:
    """The actions of a JSONL recording; RecipeError naming the line of a broken one."""
    actions: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecipeError(
                [Problem(None, f"recording line {number} is not JSON: {exc.msg}")],
                hint="expected the JSONL of `playwright codegen --target jsonl -o FILE`",
            ) from None
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            actions.append(item)  # the header line (the generator's options) has no name
    return actions


# ----------------------------------------------------------------------------- selectors


def _selector(action: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The recipe selector of an action, and whether it is a flagged CSS fallback."""
    chain: list[dict[str, Any]] = []
    node = action.get("locator")
    while isinstance(node, dict):
        chain.append(node)
        node = node.get("next")
    result: dict[str, Any] | None = None
    for part in chain:
        kind, body, options = part.get("kind"), part.get("body"), part.get("options") or {}
        if kind in ("nth", "first", "last") and result is not None:
            result["nth"] = {"first": 0, "last": -1}.get(str(kind), _int(body))
            continue
        if kind == "has-text" and result is not None and isinstance(body, str):
            result["has_text"] = body
            continue
        one = _one(str(kind), body, options)
        if one is None:
            return {"css": str(action.get("selector", ""))}, True
        if result is not None:
            one["within"] = result
        result = one
    if result is None:
        return {"css": str(action.get("selector", ""))}, True
    return result, False


def _one(kind: str, body: Any, options: dict[str, Any]) -> dict[str, Any] | None:
    """One locator part as a selector; None when the recipe has no such kind (or a regex,
    which JSON writes as {})."""
    if not isinstance(body, str):
        return None
    exact = {"exact": True} if options.get("exact") else {}
    if kind == "role":
        name = options.get("name")
        if name is not None and not isinstance(name, str):
            return None
        return {"role": body, **({"name": name} if name else {}), **(exact if name else {})}
    simple = {"label": "label", "text": "text", "placeholder": "placeholder"}
    if kind in simple:
        return {simple[kind]: body, **exact}
    if kind == "test-id":
        return {"testid": body}
    return None


def _int(body: Any) -> int:
    try:
        return int(body)
    except (TypeError, ValueError):
        return 0


def _field_name(selector: dict[str, Any]) -> str:
    """What a person calls the element: its label, accessible name or placeholder."""
    for key in ("label", "name", "placeholder", "text", "testid"):
        if isinstance(selector.get(key), str):
            return str(selector[key])
    return ""


def _looks_secret(action: dict[str, Any], selector: dict[str, Any]) -> bool:
    return bool(
        SECRET_FIELD.search(_field_name(selector)) or "password" in str(action.get("selector"))
    )


# ----------------------------------------------------------------------------- cleaning


def _clean(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Known actions only; one fill per field in a row; no focus clicks before typing; no
    implicit submit click after Enter; openPage of a real URL as a navigation; a navigation
    right after a click or Enter as that action's `navigation` signal (its result)."""
    out: list[dict[str, Any]] = []
    for action in actions:
        name = action["name"]
        if name == "openPage":
            if not str(action.get("url", "")).startswith("http"):
                continue
            action = {**action, "name": "navigate"}
        prev = out[-1] if out else None
        if name == "navigate" and prev is not None and prev["name"] in ACTS:
            signal = {"name": "navigation", "url": action.get("url")}
            out[-1] = {**prev, "signals": [*(prev.get("signals") or []), signal]}
            continue  # where the click led, not a step of its own
        same = prev is not None and prev.get("selector") == action.get("selector")
        if name == "fill" and prev and prev["name"] == "fill" and same:
            out[-1] = action  # the recorder's updates of one field: the final text counts
            continue
        if name in ("fill", "press") and prev and prev["name"] == "click" and same:
            out.pop()  # a click that only focused the field
        if name == "click" and action.get("clickCount") == 0 and prev and prev["name"] == "press":
            continue  # the submit click Chromium synthesises for Enter in a form
        out.append(action)
    return out


# ----------------------------------------------------------------------------- templates


@dataclass
class _Values:
    """Recorded values -> input names (substituted in later strings) and secrets to keep out."""

    inputs: dict[str, str] = field(default_factory=dict)  # value -> input name
    secrets: list[str] = field(default_factory=list)

    def text(self, value: str) -> str:
        """`value` as a template string: inputs substituted, seller text never evaluated."""
        names = sorted((v for v in self.inputs if len(v) >= 2), key=len, reverse=True)
        if not names:
            return _literal(value)
        pattern = re.compile("|".join(re.escape(v) for v in names))
        parts, last = [], 0
        for match in pattern.finditer(value):
            parts.append(_literal(value[last : match.start()]))
            parts.append(_use(self.inputs[match.group()]))
            last = match.end()
        parts.append(_literal(value[last:]))
        return "".join(parts)

    def url(self, value: str) -> str:
        """A URL as a template: a typed value that the site URL-encoded is matched too."""
        for raw in list(self.inputs):
            if len(raw) >= 2 and quote(raw) != raw:
                value = value.replace(quote(raw), raw)
        return self.text(value)


def _use(name: str) -> str:
    """The template of an input."""
    return "{{ inputs." + name + " }}"


def _literal(text: str) -> str:
    """Seller text inside a template: as it is, or as a Jinja string literal when it holds
    template markers (so that it is shown, never run)."""
    if any(m in text for m in ("{{", "{%", "{#", "}}", "%}", "#}")):
        return "{{ " + json.dumps(text, ensure_ascii=True) + " }}"
    return text


def _snake(text: str, fallback: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"{fallback}_{name}".strip("_") if name else fallback
    return name[:40].rstrip("_")


# ----------------------------------------------------------------------------- translation


@dataclass
class _Step:
    key: str
    value: Any
    extra: dict[str, Any] = field(default_factory=dict)
    comment: str = ""


def _relative(url: str, base_url: str) -> tuple[str, bool]:
    """A URL on the site as a path (with its query); another origin stays absolute, flagged."""
    base, target = urlsplit(base_url), urlsplit(url)
    if (target.scheme, target.netloc) != (base.scheme, base.netloc):
        return url, True
    prefix = base.path.rstrip("/")
    path = target.path[len(prefix) :] if prefix and target.path.startswith(prefix) else target.path
    return (path or "/") + (f"?{target.query}" if target.query else ""), False


def _drop_login(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without the sign-in at the start: everything up to the click (or Enter) after the
    first secret typed, when nothing but signing in happened before it."""
    secret = next(
        (
            i
            for i, a in enumerate(actions)
            if a["name"] == "fill" and _looks_secret(a, _selector(a)[0])
        ),
        None,
    )
    if secret is None:
        return actions
    before = [a for a in actions[:secret] if a["name"] in ACTS]
    if any(not SIGN_IN.search(_field_name(_selector(a)[0])) for a in before):
        return actions  # the recording did something else first: keep it all, inline
    submit = next((j for j in range(secret + 1, len(actions)) if actions[j]["name"] in ACTS), None)
    if submit is None:
        return []
    rest = actions[submit + 1 :]
    landed = [
        s["url"] for s in actions[submit].get("signals") or [] if s.get("name") == "navigation"
    ]
    if landed and (not rest or rest[0]["name"] != "navigate"):
        rest = [{"name": "navigate", "url": landed[-1]}, *rest]
    return rest


def translate(
    actions: list[dict[str, Any]],
    *,
    name: str,
    site: str,
    base_url: str,
    session: str | None = None,
    description: str = "",
) -> str:
    """The recipe YAML for recorded `actions` (module docstring); RecipeError when nothing
    in the recording becomes a step."""
    cleaned = _clean([a for a in actions if a.get("name") in KNOWN])
    if session:
        cleaned = _drop_login(cleaned)
    values = _Values()
    inputs: dict[str, dict[str, Any]] = {}
    steps: list[_Step] = []
    filled_since_act = False
    signed_in = False
    gate_at: int | None = None
    for i, action in enumerate(cleaned):
        kind = action["name"]
        if kind == "navigate":
            url, foreign = _relative(str(action.get("url", "")), base_url)
            comment = (
                "CHECK: another origin; list it in allowed_origins or remove" if foreign else ""
            )
            if steps and steps[-1].key == "goto":
                steps.pop()  # only the last of several navigations in a row matters
            steps.append(_Step("goto", values.url(url), comment=comment))
            continue
        selector, flagged = _selector(action)
        selector = _templated(selector, values)
        comment = "CHECK: a CSS fallback; prefer {role:, name:} or {label:}" if flagged else ""
        if kind in FIELD_ACTIONS:
            filled_since_act = True
            if kind in ("check", "uncheck"):
                steps.append(
                    _Step("check", {**selector, "checked": kind == "check"}, comment=comment)
                )
                continue
            raw = action.get("text") if kind == "fill" else (action.get("options") or [""])[0]
            raw = "" if raw is None else str(raw)
            if kind == "fill" and _looks_secret(action, selector):
                if raw:
                    values.secrets.append(raw)
                steps.append(_Step("fill", {**selector, "secret": "password"}, comment=comment))
                continue
            if kind == "fill" and _is_account(cleaned, i, selector):
                username = "{{ site.credentials.username }}"
                steps.append(_Step("fill", {**selector, "value": username}, comment=comment))
                continue
            label = _field_name(selector) or str(selector.get("css", ""))
            input_name = _unique(_snake(label, "value"), inputs)
            inputs[input_name] = {
                "type": "string",
                "description": f"what was typed into {_field_name(selector) or 'the field'}",
            }
            if raw:
                values.inputs.setdefault(raw, input_name)
            template = _use(input_name)
            steps.append(_Step(kind, {**selector, "value": template}, comment=comment))
            continue
        if kind in ("assertVisible", "assertText"):
            if kind == "assertText" and isinstance(action.get("text"), str):
                selector = {**selector, "has_text": values.text(action["text"])}
            steps.append(_Step("expect", {"visible": selector}, comment=comment))
            continue
        # click / press
        label = _field_name(selector)
        params = {**selector, "key": action.get("key", "Enter")} if kind == "press" else selector
        step = _Step(kind, params, comment=comment)
        steps.append(step)
        if gate_at is not None:
            continue
        nxt = next((a["name"] for a in cleaned[i + 1 :] if a["name"] != "navigate"), None)
        after_secret = any(s.key == "fill" and "secret" in s.value for s in steps[:-1])
        if after_secret and not signed_in:
            signed_in = True
            filled_since_act = False
            step.extra["safe"] = True
            step.comment = step.comment or "signs in; nothing else is sent"
            continue
        mutating = MUTATING.search(label) is not None
        if kind == "click" and selector.get("role") == "link" and not mutating:
            filled_since_act = False
            continue  # following a link is a GET
        if kind == "press" and SEARCH.search(label):
            step.extra["safe"] = True
            step.comment = step.comment or "CHECK: runs a search; nothing is sent"
            filled_since_act = False
            continue
        if filled_since_act or (mutating and nxt not in FIELD_ACTIONS):
            gate_at = len(steps) - 1
            step.extra["mutates"] = True
            continue
        step.extra["safe"] = True
        step.comment = step.comment or (
            "CHECK: opens a form (fields follow); it must send nothing"
            if nxt in FIELD_ACTIONS
            else "CHECK: a recorded click before the gate; it must send nothing"
        )
        filled_since_act = False
    if not steps:
        raise RecipeError(
            [Problem(None, "the recording has no steps (no navigation, click or typing)")],
            hint="record again and act on the site's pages before closing the browser",
        )
    text = _emit(name, site, description, session, inputs, steps, gate_at)
    leaked = [s for s in values.secrets if len(s) >= 4 and s in text]
    if leaked:  # a secret typed elsewhere too: refuse rather than write it
        raise RecipeError(
            [
                Problem(
                    None, "a value typed into a password field appears elsewhere in the recording"
                )
            ],
            hint="record again without typing the password outside its field",
        )
    return text


def _is_account(actions: list[dict[str, Any]], index: int, selector: dict[str, Any]) -> bool:
    """A username typed just before a password: the site's credential, not an input."""
    following = actions[index + 1 : index + 3]
    return bool(ACCOUNT_FIELD.search(_field_name(selector))) and any(
        a["name"] == "fill" and _looks_secret(a, _selector(a)[0]) for a in following
    )


def _templated(selector: dict[str, Any], values: _Values) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in selector.items():
        if key == "within" and isinstance(value, dict):
            out[key] = _templated(value, values)
        elif isinstance(value, str) and key not in ("role", "css"):
            out[key] = values.text(value)
        else:
            out[key] = value
    return out


def _unique(name: str, taken: dict[str, Any]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


# ----------------------------------------------------------------------------- YAML text


def _flow(value: Any) -> str:
    """One value in YAML flow style, on one line (JSON for plain strings: always valid)."""
    if isinstance(value, dict):
        return yaml.safe_dump(
            value, default_flow_style=True, sort_keys=False, width=1_000_000, allow_unicode=True
        ).strip()
    return json.dumps(value, ensure_ascii=False)


def _emit(
    name: str,
    site: str,
    description: str,
    session: str | None,
    inputs: dict[str, dict[str, Any]],
    steps: list[_Step],
    gate_at: int | None,
) -> str:
    """The recipe text: flow-style values on one line each, comments where a person must
    check something."""
    lines = [
        "# Recorded with `aijia recipes record`. Read every CHECK / CHANGE ME comment, then:",
        f"#   aijia recipes validate recipes/<flavor>/{name}.yaml",
        "# Add `extract` steps for what the recipe should read (aijia recipes steps extract).",
        f"name: {name}",
        'version: "1"',
        f"site: {site}",
        f"description: {_flow(description or 'Recorded; CHANGE ME: what this recipe does.')}",
    ]
    if inputs:
        lines.append("inputs:")
        lines += [f"  {key}: {_flow(spec)}" for key, spec in inputs.items()]
    if session:
        lines.append(f"session: {session}   # reuses the saved login")
    lines.append("steps:")
    binds = {key: _use(key) for key in inputs}
    for index, step in enumerate(steps):
        if index == gate_at:
            trigger = _field_name(step.value) or step.key
            action = "refund" if "refund" in f"{trigger} {name}".lower() else _snake(trigger, "act")
            shown = ", ".join(f"{k} {v}" for k, v in binds.items())
            summary = f"{_literal(trigger)} on {site}" + (f": {shown}" if shown else "")
            lines += [
                "  - gate:   # the first click that may change the back office: approval first",
                f"      action: {action}",
                f"      summary: {_flow(summary)}",
                f"      binds: {_flow(binds or {'action': _literal(trigger)})}",
            ]
        comment = f"   # {step.comment}" if step.comment else ""
        lines.append(f"  - {step.key}: {_flow(step.value)}{comment if not step.extra else ''}")
        for key in ("safe", "mutates"):
            if step.extra.get(key):
                lines.append(f"    {key}: true{comment}")
    lines.append("  - screenshot: recorded_end   # evidence of where the recording ended")
    if gate_at is not None:
        fields = {k: k for k in inputs}
        lines += [
            "commits:   # CHANGE ME: the request the gated click sends (the browser's network tab)",
            "  method: POST",
            '  url: "**"   # CHANGE ME: e.g. /orders/{{ inputs.order_id }}/refund',
            f"  fields: {_flow(fields)}   # CHANGE ME: request field -> gate bind",
            "  ignore: [csrf_token]",
        ]
    if inputs:
        lines.append("outputs:")
        lines += [f"  {key}: {_flow(_use(key))}" for key in inputs]
    return "\n".join(lines) + "\n"


__all__ = ["parse_recording", "translate"]
