"""Templates cannot take the agent's time or memory (issue 10, item 5).

Each attack is a `set` step of a real recipe file. They run in a fresh Python process, one
after the other, which reports per attack the wall and CPU time, how much the process's peak
memory grew, and the error as the step runner shows it (`locate_error`: the recipe
file:line). Then the same through the real engine: a `set` step whose template would run for
minutes fails within the step's timeout. Normal templates render exactly as plain Jinja2's
sandbox renders them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from agent import RunResult
from agent.core.errors import TemplateLimitError
from agent.core.states import RunState
from agent.recipes import template_limits, templating
from agent.recipes.model import load_recipe
from agent.recipes.template_limits import render_deadline
from agent.recipes.templating import render_text
from tests.engine.conftest import (  # noqa: F401 (the engine's fixtures, for the end-to-end tests)
    RUNNER,
    aijia,
    local_site,
    local_site_server,
    settings,
    store,
)

WALL_SECONDS = 5.0
MEMORY_MB = 200.0
# a loop body of about a millisecond: 100 000 of them would take minutes
SLOW_LOOP = "{% for i in range(100000) %}{{ ('ab' * 400000)|replace('a', 'c')|length }}{% endfor %}"
FAN_OUT = (
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
)

# name -> (template, what the error says)
ATTACKS: dict[str, tuple[str, str]] = {
    "repeat a string": ("{{ 'x' * 10**9 }}", "`*` would make about 1,000,000,000 characters"),
    "repeat, number first": ("{{ 10**9 * 'x' }}", "`*` would make about 1,000,000,000"),
    "repeat a list": ("{{ [1, 2] * 10**9 }}", "`*` would make about"),
    "str.ljust": ("{{ 'x'.ljust(10**9) }}", "`str.ljust()` would make about 1,000,000,000"),
    "str.zfill": ("{{ '1'.zfill(10**9) }}", "`str.zfill()` would make about"),
    "str.expandtabs": ("{{ ('\t' * 9999).expandtabs(99999) }}", "`str.expandtabs()` would"),
    "str.replace": ("{{ ('x' * 900000).replace('x', 'y' * 10) }}", "`str.replace()` would"),
    "str.join": ("{{ ('x' * 10000).join(['a'] * 1000) }}", "`str.join()` would"),
    # Jinja2's `**` is left-associative (10**10**10 is (10**10)**10): the parentheses matter
    "huge power": ("{{ 10 ** (10 ** 10) }}", "`**` would make a number of about"),
    "squaring in a loop": (
        "{% set ns = namespace(n=3) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}"
        "{% endfor %}",
        "`*` would make a number of about",
    ),
    "nested loops": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        "it ran more than 100,000 loop iterations",
    ),
    "loop over a lazy pipeline": (
        "{% for a in range(100000) %}{% for b in range(100000)|map('string') %}{% endfor %}"
        "{% endfor %}",
        "it ran more than 100,000 loop iterations",
    ),
    "macro recursion": (
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "it nested too deeply",
    ),
    "recursive loop": (
        "{% for x in [1] recursive %}{{ loop([1, 1]) }}{% endfor %}",
        "it nested too deeply",
    ),
    "filter center": ("{{ 'a'|center(10**9) }}", "filter `center` would make about 1,000,000,000"),
    "filter indent": ("{{ ('a\n' * 1000)|indent(10**6) }}", "filter `indent` would make about"),
    "filter batch": ("{{ [1]|batch(10**9, 'x')|list }}", "filter `batch` would make about"),
    "filter format": ("{{ '%999999999s'|format(1) }}", "filter `format` would make about"),
    "filter replace": ("{{ ('x' * 900000)|replace('x', 'yy') }}", "filter `replace` would"),
    "filter wordwrap": ("{{ ('a' * 1000000)|wordwrap(1) }}", "filter `wordwrap` is slow on long"),
    "filter striptags": ("{{ ('<a>' * 300000)|striptags }}", "filter `striptags` is slow on long"),
    "filters chained": ("{{ ('&' * 500000)|e|e|e|e }}", "filter `e` would make about 2,500,000"),
    "lazy map, then join": (
        "{{ range(100000)|map('center', 10000)|join }}",
        "a sequence would make about",
    ),
    "percent width": ("{{ '%0999999999d' % 1 }}", "`%` would make about 1,000,000,013"),
    "format width": ("{{ '{:>999999999}'.format(1) }}", "`str.format()` would make about"),
    "format width from an argument": (
        "{{ '{0:{1}}'.format('x', 999999999) }}",
        "`str.format()` would make about",
    ),
    "format a field many times": (
        "{{ ('{0}' * 1000).format('x' * 100000) }}",
        "`str.format()` would make about",
    ),
    "lipsum": ("{{ lipsum(100000) }}", "lipsum() would make about"),
    "concatenation growth in a loop": (
        "{% set ns = namespace(s='') %}{% for i in range(100000) %}"
        "{% set ns.s = ns.s ~ ('x' * 1000) %}{% endfor %}",
        "`~` would make about 1,001,000 characters",
    ),
    "set doubling with ~": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        "`~` would make about 1,048,576 characters",
    ),
    "set doubling with +": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}",
        "`+` would make about 1,048,576 characters",
    ),
    "set doubling, no loop": (
        "{% set s = 'x' * 100000 %}{% set s = s ~ s %}{% set s = s ~ s %}{% set s = s ~ s %}"
        "{% set s = s ~ s %}{% set s = s ~ s %}{% set s = s ~ s %}",
        "`~` would make about",
    ),
    "set block doubling": (
        "{% set ns = namespace(s='xxxxxxxxxx') %}{% for i in range(64) %}"
        "{% set b %}{{ ns.s }}{{ ns.s }}{% endset %}{% set ns.s = b %}{% endfor %}",
        "it wrote more than 1,000,000 characters",
    ),
    # shared references: 2**64 leaves on paper, a few bytes in memory, until printed or hashed
    "list doubling": (
        "{% set ns = namespace(s=['x']) %}{% for i in range(64) %}{% set ns.s = [ns.s, ns.s] %}"
        "{% endfor %}{{ ns.s == ns.s[:] }}",
        "a literal would make about",
    ),
    "list growing itself": (
        "{% set l = ['x' * 1000] %}{% for i in range(64) %}{{ l.extend(l) }}{% endfor %}",
        "`list.extend()` would make about",
    ),
    "output in a loop": (
        "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
        "it wrote more than 1,000,000 characters",
    ),
}


@pytest.fixture(scope="module")
def attack_recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `set` step per attack, in a real recipe file (so each has a file:line)."""
    lines = ["name: template_attacks", "site: local", "steps:"]
    for name, (template, _) in ATTACKS.items():
        lines += [f"  - name: {json.dumps(name)}", "    set:", f"      v: {json.dumps(template)}"]
    path = tmp_path_factory.mktemp("recipes") / "template_attacks.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


RUN_ATTACKS = """
import json, resource, sys, time
from agent.core.errors import TemplateLimitError
from agent.engine.execute import locate_error
from agent.recipes.model import load_recipe
from agent.recipes.templating import render_text

render_text("{{ [1, 2]|join(', ') ~ 'x' * 3 }}", {})  # warm up: imports, first compile
for step in load_recipe(sys.argv[1]).steps:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.monotonic(), time.thread_time()
    try:
        render_text(step.set["v"], {})
        error = None
    except TemplateLimitError as exc:
        error = locate_error(exc, step).message
    except Exception as exc:
        error = f"not a TemplateLimitError: {type(exc).__name__}: {exc}"
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
    print(json.dumps({
        "name": step.name, "line": step.location.line, "error": error,
        "wall": time.monotonic() - wall, "cpu": time.thread_time() - cpu,
        "memory_mb": grown / 1024,
    }), flush=True)
"""


@pytest.fixture(scope="module")
def outcomes(attack_recipe: Path) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-c", RUN_ATTACKS, str(attack_recipe)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = [json.loads(line) for line in done.stdout.splitlines()]
    return {o["name"]: o for o in found}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_fails_fast_with_little_memory_naming_the_line(
    name: str, outcomes: dict[str, dict[str, Any]], attack_recipe: Path
) -> None:
    says = ATTACKS[name][1]
    seen = outcomes[name]
    assert seen["error"] is not None, f"{name}: rendered without hitting a limit"
    assert says in seen["error"], seen["error"]
    assert f"{attack_recipe}:{seen['line']}:5" in seen["error"]  # the step runner's location
    assert "stopped: " in seen["error"]
    assert seen["wall"] < WALL_SECONDS, seen
    assert seen["memory_mb"] < MEMORY_MB, seen


def test_attacks_name_their_own_lines(outcomes: dict[str, dict[str, Any]]) -> None:
    lines = [o["line"] for o in outcomes.values()]
    assert lines == sorted(lines) and len(set(lines)) == len(ATTACKS)


# --------------------------------------------------------------------------- time


def test_cpu_limit_stops_a_template_that_would_run_for_minutes() -> None:
    wall, cpu = time.monotonic(), time.thread_time()
    with pytest.raises(TemplateLimitError) as caught:
        render_text(SLOW_LOOP, {})
    used = time.thread_time() - cpu
    assert "stopped: it used more than 1s of CPU time" in caught.value.message
    assert (
        template_limits.MAX_RENDER_CPU_SECONDS
        <= used
        < template_limits.MAX_RENDER_CPU_SECONDS + 0.5
    )
    assert time.monotonic() - wall < 60  # CPU time, however busy the machine is


@pytest.mark.parametrize("template", [SLOW_LOOP, FAN_OUT], ids=["loop", "macro fan-out"])
def test_the_step_deadline_stops_a_template_before_the_cpu_limit(template: str) -> None:
    started = time.monotonic()
    with render_deadline(0.3), pytest.raises(TemplateLimitError) as caught:
        render_text(template, {})
    assert "stopped: it ran past the step's timeout (0.3s)" in caught.value.message
    assert time.monotonic() - started < 0.3 + 0.5


def test_a_step_deadline_covers_all_of_the_steps_templates() -> None:
    with render_deadline(0.4):
        render_text("{{ 1 + 1 }}", {})
        time.sleep(0.5)  # the step spent its time elsewhere (e.g. waiting for the page)
        # a render that starts late gets a short grace: enough to say what went wrong …
        assert render_text("{{ x|upper }}", {"x": "a"}) == "A"
        # … and no more
        started = time.monotonic()
        with pytest.raises(TemplateLimitError, match=r"step's timeout \(0.4s\)"):
            render_text(FAN_OUT, {})
        took = time.monotonic() - started
        assert (
            template_limits.DEADLINE_GRACE_SECONDS
            <= took
            < template_limits.DEADLINE_GRACE_SECONDS + 0.5
        )


def test_inner_deadlines_replace_outer_ones_and_none_lifts_them() -> None:
    takes_a_while = SLOW_LOOP.replace("100000", "100")  # longer than the grace, < 1s of CPU
    with render_deadline(0.01):
        time.sleep(0.02)
        with render_deadline(30):
            assert render_text(takes_a_while, {})
        with render_deadline(None):
            assert render_text(takes_a_while, {})
        with pytest.raises(TemplateLimitError, match="step's timeout"):
            render_text(SLOW_LOOP, {})  # far longer than the grace, whatever the machine


# --------------------------------------------------------------------------- normal use


def test_limits_are_per_render_and_the_limits_themselves_are_allowed() -> None:
    loop = "{% for i in range(100000) %}{% endfor %}done"
    assert render_text(loop, {}) == "done"
    assert render_text(loop, {}) == "done"  # counters start again for each render
    assert len(render_text("{{ 'x' * 1000000 }}", {})) == template_limits.MAX_OUTPUT_CHARS
    assert render_text("{{ (2 ** 14000) > 0 }}", {}) is True
    with pytest.raises(TemplateLimitError, match="more than 1,000,000 characters"):
        render_text("{{ 'x' * 1000000 }}!", {})


def test_a_multi_line_template_names_its_line() -> None:
    template = "{% set a = 1 %}\n{{ a }}\n{{ 'x' * 10**9 }}\n"
    with pytest.raises(TemplateLimitError, match=r"\(template line 3\) stopped"):
        render_text(template, {})


def test_big_values_from_the_page_pass_through_untouched() -> None:
    """The limits are on what a template makes: an extracted table larger than the output
    limit can still be handed on, counted and filtered."""
    rows = [{"id": i, "text": "y" * 100} for i in range(20000)]  # ~2.5 MB printed
    scope = {"rows": rows}
    assert render_text("{{ rows }}", scope) is rows
    assert render_text("{{ rows | length }}", scope) == 20000
    assert render_text("{{ rows | default([]) | length }}", scope) == 20000
    assert render_text(
        "{{ rows | selectattr('id', 'lt', 3) | map(attribute='id') | list }}", scope
    ) == [0, 1, 2]


SCOPE = {
    "inputs": {"order_id": "20240101ABCDEF", "amount": 5.0, "reason": "damaged"},
    "refundable": {"amount": 12.5, "currency": "EUR"},
    "status": "paid",
    "orders": [{"id": i, "total": i * 1.5, "tags": ["a", "b"][: i % 3]} for i in range(7)],
    "tree": [{"name": "a", "children": [{"name": "b", "children": []}]}],
    "text": "one\ntwo three four five six seven eight nine ten eleven twelve",
}

SAME_AS_JINJA = [
    "{{ inputs.order_id }}",
    "{{ refundable.amount }}",
    "{{ inputs.amount <= refundable.amount }}",
    "Refund {{ inputs.amount }} {{ refundable.currency }} on {{ inputs.order_id }}",
    "{{ status == 'paid' and inputs.reason in ['damaged', 'other'] }}",
    "{{ orders | sum(attribute='total') }}",
    "{{ orders | map(attribute='id') | list }}",
    "{{ orders | selectattr('total', 'gt', 3) | map(attribute='id') | join(', ') }}",
    "{{ orders | groupby('tags') | length }}",
    "{{ {'b': 1, 'a': 2} | dictsort }}",
    "{{ orders[:2] | tojson }}",
    "{% for o in orders %}{{ loop.index }}/{{ loop.length }}{{ '' if loop.last else ',' }}"
    "{% else %}none{% endfor %}",
    "{% for o in orders if o.total > 2 %}{{ o.id }}{{ loop.cycle('a', 'b') }}{% endfor %}",
    "{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}",
    "{% for k, v in refundable.items() %}{{ k }}={{ v }};{% endfor %}",
    "{% for o in [] %}x{% else %}empty{% endfor %}",
    "{% for n in tree recursive %}{{ n.name }}({{ loop(n.children) }}){% endfor %}",
    "{% macro line(o, sep='-') %}{{ o.id }}{{ sep }}{{ caller() }}{% endmacro %}"
    "{% call line(orders[1]) %}body{% endcall %}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c %}{{ a }}-{{ b }}{% endset %}{{ c }}",
    "{% set ns = namespace(total=0) %}{% for o in orders %}{% set ns.total = ns.total + o.total %}"
    "{% endfor %}{{ ns.total }}",
    "{% filter upper %}{{ status }} {{ inputs.reason }}{% endfilter %}",
    "{{ 'x' ~ 1 ~ [2] ~ {'k': 3} }}",
    "{{ '%s-%05.1f' % (inputs.order_id, inputs.amount) }}",
    "{{ '{}:{:>8}'.format(status, inputs.amount) }} {{ '{a}'.format_map({'a': 1}) }}",
    "{{ '%(x)s' | format(x=1) }} {{ '%s/%s' | format(1, 2) }}",
    "{{ text | wordwrap(12) }}|{{ text | indent(2, true) }}|{{ 'ab' | center(7) }}|",
    "{{ text | replace('e', 'E', 3) }} {{ text | truncate(20) }} {{ '<b>x</b>' | striptags }}",
    "{{ range(10) | batch(3, 0) | list }} {{ range(10) | slice(3) | list }}",
    "{{ [3, 1, 2] | sort | reverse | list }} {{ 'abc'.upper().rjust(5, '.') }}",
    "{{ 2 ** 10 }} {{ 7 * 6 }} {{ 'ab' * 3 }} {{ [0] * 3 }} {{ (1, 2) + (3,) }} {{ 7 % 3 }}",
    "{{ dict(a=1, b=[1, 2]) }} {{ [1, 2, 3][1:] }} {{ (1, 2) }} {{ {'k': (1, [2])} }}",
    "{% set l = [1] %}{{ l.append(2) }}{{ l }} {{ 'a,b'.split(',') }}",
    "{{ refundable.amount | money }} {{ inputs.amount | round | int }}",
]


def _plain_jinja(template: str, scope: dict[str, Any]) -> Any:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters["money"] = lambda v: f"{float(v):.2f}"
    expr = templating._whole_expression(template)
    if expr is not None:
        return env.compile_expression(expr, undefined_to_none=False)(**scope)
    return env.from_string(template).render(**scope)


@pytest.mark.parametrize("template", SAME_AS_JINJA)
def test_normal_templates_render_as_plain_jinja_does(template: str) -> None:
    assert render_text(template, SCOPE) == _plain_jinja(template, SCOPE)


# --------------------------------------------------------------------------- through the engine


@pytest.fixture
def write_recipe(tmp_path: Path) -> Any:
    folder = tmp_path / "local"
    folder.mkdir()

    def write(body: str) -> Path:
        path = folder / "case.yaml"
        path.write_text("name: case\nsite: local\n" + textwrap.dedent(body))
        return path

    return write


def _run(run: Any, aijia: Any, path: Path) -> tuple[RunResult, float]:  # noqa: F811
    started = time.monotonic()
    result = run(aijia.run(load_recipe(path), {}, as_user=RUNNER))
    return result, time.monotonic() - started


def test_a_set_step_that_loops_forever_fails_within_its_timeout(
    write_recipe: Any,
    run: Any,
    aijia: Any,  # noqa: F811
    store: Any,  # noqa: F811
    local_site: Any,  # noqa: F811
) -> None:
    path = write_recipe(f"""\
        steps:
          - goto: /static
          - set:
              spin: {json.dumps(SLOW_LOOP)}
            timeout: 2
          - set: {{after: reached}}
        """)
    result, took = _run(run, aijia, path)
    assert result.state is RunState.FAILED
    assert result.error_step == "2"
    assert "case.yaml:5:5" in (result.error or "")
    # the CPU limit (1s) or, on a busy machine, the step's 2s timeout: whichever comes first
    assert "stopped: it used more than 1s of CPU time" in (result.error or "") or (
        "stopped: it ran past the step's timeout (2s)" in (result.error or "")
    )
    assert took < 10
    assert _step_finished(store, result, "2")["duration_ms"] < 2000 + 1000


def test_the_steps_timeout_covers_its_templates_through_the_engine(
    write_recipe: Any,
    run: Any,
    aijia: Any,  # noqa: F811
    store: Any,  # noqa: F811
    local_site: Any,  # noqa: F811
) -> None:
    path = write_recipe(f"""\
        steps:
          - goto: /static
          - set:
              fan_out: {json.dumps(FAN_OUT)}
            timeout: 0.5
        """)
    result, took = _run(run, aijia, path)
    assert result.state is RunState.FAILED
    assert "case.yaml:5:5" in (result.error or "")
    assert "stopped: it ran past the step's timeout (0.5s)" in (result.error or "")
    assert took < 10
    finished = _step_finished(store, result, "2")
    assert finished["outcome"] == "failed"
    assert finished["duration_ms"] < 500 + 1000


def _step_finished(store: Any, result: RunResult, number: str) -> dict[str, Any]:  # noqa: F811
    [finished] = [
        dict(e.data)
        for e in store.events(result.run_id)
        if e.kind == "step_finished" and e.data["step"] == number
    ]
    return finished
