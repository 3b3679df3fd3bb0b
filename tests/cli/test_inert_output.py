"""Seller text reaches the reviewer's terminal inert: the installed `aijia` command, in a real
subprocess over a real store whose runs and gates carry terminal attacks (clear screen and a
fake "APPROVED by supervisor", window-title OSC, carriage-return overwrite, C1 CSI, bidi
overrides), never writes one of their control characters to stdout or stderr; it shows them
escaped. Plus `printable` itself, the JSON path and the error path."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.core.settings import load_config
from agent.core.states import RunState
from agent.core.text import json_printable, printable
from evidence import events as ev
from evidence.store import EvidenceStore
from tests.conftest import aijia_command

CLEAR = "\x1b[2J\x1b[H"  # erase the screen, cursor home
TITLE = "\x1b]0;refund approved\x07"  # OSC: set the window title
C1 = "\x9b2J\x9b1;1H"  # the same erase as a C1 CSI (one byte on 8-bit terminals)
OSC8 = "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # a hidden hyperlink
BIDI = "\u202eDEVORPPA\u202c \u2066x\u2069 \u200f"  # right-to-left override, isolate, mark
FAKE = f"Ann Lee{CLEAR}{TITLE}\x1b[32;1mAPPROVED by supervisor\x1b[0m"
OVERWRITE = "999.00\r5.00"  # a carriage return paints 5.00 over 999.00
BUYER = f"{FAKE} {C1} {BIDI} {OSC8} bell\x07 back\x08\x08 del\x7f nul\x00 tab\tnl\nend"

# What must never reach the terminal: C0 but newline (rich expands tabs), DEL, C1, bidi
# controls and marks, the line and paragraph separators.
RAW = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)
SGR = re.compile("\x1b\\[[0-9;]*m")  # rich's own colours, with FORCE_COLOR


@dataclass(frozen=True)
class Hostile:
    config: Path
    paused: str  # a run waiting at a gate whose summary and binds are hostile
    gate: str
    failed: str  # a run that failed with a hostile error and outputs


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    folder = tmp_path_factory.mktemp("inert")
    config = folder / "config.yaml"
    config.write_text("data_dir: var\nevidence:\n  screenshot_format: png\n")
    case = f"T-1 {FAKE}"
    with EvidenceStore.open(load_config(config)) as store:
        store.open_case(case, channel="email", ask=f"where is my refund? {BUYER}")
        paused = store.create_run(
            recipe="prepare_refund",
            recipe_version="1",
            site="shoplane",
            inputs={"buyer": BUYER, "amount": OVERWRITE},
            case_id=case,
        )
        store.transition(paused.run_id, RunState.PENDING, RunState.RUNNING)
        store.record(
            paused.run_id,
            ev.PageReviewed(
                url=f"http://127.0.0.1:8700/order/{CLEAR}{BIDI}",
                title=f"Order {FAKE}",
                extracted={"buyer": BUYER, "refundable": OVERWRITE},
            ),
        )
        gate = store.record_gate(
            paused.run_id,
            action="refund",
            summary=f"Refund {OVERWRITE} EUR to {FAKE} {C1} {BIDI}",
            binds={"buyer": BUYER, "amount": OVERWRITE},
        )
        store.transition(paused.run_id, RunState.RUNNING, RunState.PAUSED, reason="gate")

        failed = store.create_run(
            recipe="lookup_order",
            recipe_version="1",
            site="shoplane",
            inputs={"order_id": f"2611{C1}"},
            case_id=case,
        )
        store.transition(failed.run_id, RunState.PENDING, RunState.RUNNING)
        store.transition(failed.run_id, RunState.RUNNING, RunState.FAILED)
        store.finish_run(
            failed.run_id,
            outputs={"buyer": BUYER, "status": f"shipped{CLEAR}"},
            error=f"step 3 (expect): expected 'paid', saw {FAKE!s}\n  hint: {BIDI}{OVERWRITE}",
        )
    return Hostile(config, paused.run_id, gate.gate_id, failed.run_id)


COMMANDS = [
    ("gates", "list"),
    ("gates", "list", "--json"),
    ("gates", "show", "{gate}"),
    ("gates", "show", "{gate}", "--json"),
    ("runs", "list"),
    ("runs", "list", "--json"),
    ("runs", "show", "{paused}"),
    ("runs", "show", "{failed}"),
    ("runs", "show", "{failed}", "--json"),
    ("evidence", "show", "{paused}"),
    ("evidence", "show", "{failed}"),
    ("evidence", "list"),
    ("evidence", "list", "--json"),
]


def aijia(hostile: Hostile, args: tuple[str, ...], **env: str) -> tuple[str, str]:
    """Run the installed command; stdout and stderr decoded strictly (a raw C1 byte such as
    0x9b is not UTF-8 and fails here too)."""
    ids = {"gate": hostile.gate, "paused": hostile.paused, "failed": hostile.failed}
    argv = [aijia_command(), *(a.format(**ids) for a in args), "-c", str(hostile.config)]
    done = subprocess.run(
        argv,
        capture_output=True,
        env={**os.environ, "COLUMNS": "400", **env},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    return done.stdout.decode("utf-8"), done.stderr.decode("utf-8")


def strings(value: object) -> list[str]:
    """Every string in a parsed JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def assert_inert(text: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in RAW.findall(text)})
    assert not found, f"raw control characters reached the terminal: {found}\n{text[:2000]}"


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_no_control_character_reaches_the_terminal(hostile: Hostile, args: tuple[str, ...]):
    out, err = aijia(hostile, args)
    assert_inert(out)
    assert_inert(err)
    if "--json" in args:
        # still valid JSON, carrying the very same values
        assert any(BUYER in text for text in strings(json.loads(out))), out[:2000]
    else:
        # the reviewer sees that something was there, as text
        assert "\\x1b[2J" in out or "\\x9b2J" in out or "\\u202e" in out, out[:2000]


COLOURED = [
    ("gates", "list"),
    ("gates", "show", "{gate}"),
    ("runs", "show", "{failed}"),
    ("evidence", "show", "{paused}"),
]


@pytest.mark.parametrize("args", COLOURED, ids=" ".join)
def test_with_colours_only_rich_own_styles_are_escapes(hostile: Hostile, args: tuple[str, ...]):
    out, err = aijia(hostile, args, FORCE_COLOR="1", TERM="xterm-256color")
    assert_inert(SGR.sub("", out))
    assert_inert(SGR.sub("", err))


def test_the_fake_approval_stays_on_the_buyers_line(hostile: Hostile) -> None:
    out, _ = aijia(hostile, ("gates", "show", "{gate}"))
    [line] = [
        line for line in out.splitlines() if "APPROVED by supervisor" in line and "bind" in line
    ]
    assert "bind buyer" in line and "Ann Lee\\x1b[2J\\x1b[H" in line
    assert "999.00\\r5.00" in out, "the overwrite is shown, not performed"


# --------------------------------------------------------------------------- the pieces


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text, 中文, émoji 🎉", "plain text, 中文, émoji 🎉"),
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("a\x1b]0;t\x07b", "a\\x1b]0;t\\x07b"),
        ("999\r5", "999\\r5"),
        ("x\x9b31m", "x\\x9b31m"),
        ("del\x7f nul\x00", "del\\x7f nul\\x00"),
        ("\u202eabc\u202c", "\\u202eabc\\u202c"),
        ("\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"),
        ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),
        ("line\u2028sep", "line\\u2028sep"),
        ("one\ntwo\tthree", "one\\ntwo\\tthree"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
    ],
)
def test_printable(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    assert printable(shown) == shown, "idempotent: an escape is printed as is"


def test_printable_multiline_keeps_newlines_and_tabs_only() -> None:
    text = f"error: {FAKE}\n  hint:\t{BIDI}{OVERWRITE}"
    shown = printable(text, multiline=True)
    assert shown.count("\n") == 1 and "\t" in shown
    assert_inert(shown.replace("\t", " "))


def test_json_printable_escapes_what_json_dumps_leaves_raw() -> None:
    value = {"buyer": BUYER, "名前": "中文"}
    dumped = json.dumps(value, ensure_ascii=False)
    assert RAW.search(dumped), "json.dumps alone leaves DEL, C1 and bidi raw"
    safe = json_printable(dumped)
    assert_inert(safe)
    assert json.loads(safe) == value
    assert "中文" in safe, "readable text stays readable"


def test_an_error_quoting_seller_text_is_printed_inert(capsys: pytest.CaptureFixture[str]):
    import typer

    from agent.cli.common import handles_errors
    from agent.core.errors import StepError

    @handles_errors
    def failing() -> None:
        raise StepError(f"step 4 (extract): saw {FAKE}", hint=f"check {BIDI}{OVERWRITE}")

    with pytest.raises(typer.Exit) as exited:
        failing()
    assert exited.value.exit_code == 1
    err = capsys.readouterr().err
    assert_inert(err)
    assert "Ann Lee\\x1b[2J" in err and "hint:" in err


def test_run_results_print_inert(capsys: pytest.CaptureFixture[str]) -> None:
    """`aijia run`'s table, `--json` lines and a resumed run's outcome."""
    from agent.cli import present
    from agent.engine.result import GateInfo, RunResult

    gate = GateInfo("8", 7, "refund", f"Refund to {FAKE}", {"buyer": BUYER}, gate_id="g-1")
    paused = RunResult(
        "prepare_refund",
        "shoplane",
        RunState.PAUSED,
        run_id="r-1",
        outputs={"buyer": BUYER},
        error=f"drift: {FAKE}",
        gate=gate,
    )
    failed = RunResult("lookup_order", "shoplane", RunState.FAILED, run_id="r-2", error=BUYER)
    present.run_summary([paused], Path("var/evidence"))
    present.run_summary([paused, failed], Path("var/evidence"))
    present.resumed(paused)
    present.resumed(failed)
    present.run_lines([paused, failed])
    out, err = capsys.readouterr()
    assert_inert(out)
    assert_inert(err)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith('{"recipe"')]
    assert [line["outputs"] for line in lines] == [{"buyer": BUYER}, {}]
