"""The canary: a password echoed by a hostile site everywhere reaches no byte the agent writes.

A real recipe runs through the public API against `hostile_site` (tests/security/
hostile_site.py), which echoes the typed password into attributes, text, fields, scripts, JSON,
base64 blobs, URLs, a cookie, the console, a fetch and a latin-1 form, with every page
captured (screenshot, DOM, MHTML) and a Playwright trace recorded. The run is exported as a
bundle. Then every byte under the data dir, every byte of the bundle (nested zips unpacked),
stdout, stderr and the log are decoded layer by layer (tests/security/leaks.py) and searched
for the password and for the live session id the site handed out: zero hits. The data dir is
then read as another local user, which must fail.
"""

from __future__ import annotations

import io
import logging
import zipfile
from typing import Any

import pytest

from agent.core.states import RunState
from agent.recipes.model import load_recipe
from evidence.artifacts import blank_frame
from tests.security.conftest import CANARY, RECIPES
from tests.security.hostile_site import HostileSite
from tests.security.leaks import scan, scan_text
from tests.security.private import assert_private

RECIPE = RECIPES / "hostile" / "echo_password.yaml"
RUNNER = "tester"
MASK_COLOUR = (255, 0, 255)  # Playwright paints masked elements magenta


def test_a_password_echoed_everywhere_reaches_no_byte_the_agent_writes(
    hostile_aijia: Any,
    hostile_store: Any,
    hostile_settings: Any,
    hostile_site: HostileSite,
    run: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    result = run(hostile_aijia.run(load_recipe(RECIPE), {}, as_user=RUNNER))
    assert result.state is RunState.DONE, result.error
    # the site really was sent the password (twice, the second time in latin-1) and echoed it
    assert hostile_site.state.password == CANARY
    assert any(b"%E9%80" in post for post in hostile_site.state.posts), "latin-1 form posted"
    [session_id] = hostile_site.sessions

    events = hostile_store.events(result.run_id)
    refs = [hostile_store.artifact(sha) for e in events for sha in e.artifacts]
    assert {"screenshot", "dom", "mhtml", "trace"} <= {r.kind for r in refs}
    data_dir = hostile_settings.data_dir
    bundle = data_dir.parent / "export" / "bundle.zip"
    run(hostile_aijia.export(bundle, [result.run_id]))

    # The masking leaves evidence worth having: the secret painted over in the screenshot
    # of the page that shows it, the pages still there around the masks.
    welcome = next(e for e in events if e.data.get("label") == "welcome" and e.artifacts)
    [shot] = [r for r in map(hostile_store.artifact, welcome.artifacts) if r.kind == "screenshot"]
    assert _masked_pixels(hostile_store.read_artifact(shot.sha256)) > 500
    mhtml = [hostile_store.read_artifact(r.sha256) for r in refs if r.kind == "mhtml"]
    assert any(b"******" in m and b"Welcome" in m for m in mhtml)

    secrets = [CANARY, session_id]
    leaks = scan([data_dir, bundle], secrets, root=data_dir.parent)  # WAL still open
    hostile_store.close()  # checkpoint: the main database file gets the latest pages
    leaks += scan([data_dir], secrets, root=data_dir.parent)
    out, err = capfd.readouterr()
    leaks += scan_text("stdout", out, secrets) + scan_text("stderr", err, secrets)
    leaks += scan_text("log", caplog.text, secrets) + scan_text("result", repr(result), secrets)
    assert leaks == []

    # Screenshot masking looked for the password from the first page on (it was registered
    # before the browser started), never in the page's own JavaScript world.
    assert "spy-alive" in hostile_site.state.spied, "the login page's spy reported"
    assert [s for s in hostile_site.state.spied if "rd<" in s or "w&rd" in s] == []

    assert_private(data_dir, bundle)


def _masked_pixels(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(count for count, colour in image.getcolors(1 << 24) or [] if colour == MASK_COLOUR)


def test_session_material_never_survives_in_the_trace(
    hostile_aijia: Any,
    hostile_store: Any,
    hostile_settings: Any,
    hostile_site: HostileSite,
    run: Any,
) -> None:
    """The trace keeps its network log, but no cookie, session header or storage state (the
    runner saves the session while the trace records): a reader of the evidence cannot
    replay the session. The saved session itself is a private file."""
    recipe = load_recipe(RECIPES / "hostile" / "with_session.yaml")
    result = run(hostile_aijia.run(recipe, {}, as_user=RUNNER))
    assert result.state is RunState.DONE, result.error
    assert "session_saved" in [e.kind for e in hostile_store.events(result.run_id)]
    [trace] = [
        hostile_store.artifact(sha)
        for e in hostile_store.events(result.run_id)
        for sha in e.artifacts
        if hostile_store.artifact(sha).kind == "trace"
    ]
    with zipfile.ZipFile(io.BytesIO(hostile_store.read_artifact(trace.sha256))) as zf:
        network = zf.read("trace.network").decode()
        calls = zf.read("trace.trace").decode()
        frames = [zf.read(n) for n in zf.namelist() if n.startswith("screencast/")]
    assert "/welcome" in network, "the network log is kept"
    assert '"name":"Cookie","value":"******"' in network
    assert '"cookies":[{"name":"sid","value":"******"' in network
    assert '"method":"storageState"' in calls, "the session was saved while tracing"
    [sid] = hostile_site.sessions
    assert sid not in network and sid not in calls
    assert frames and all(frame == blank_frame() for frame in frames), "pictures of the page"
    [saved] = (hostile_settings.data_dir / "sessions").iterdir()
    assert sid in saved.read_text(), "the session file is the one place the session lives"
    assert_private(hostile_settings.data_dir)
