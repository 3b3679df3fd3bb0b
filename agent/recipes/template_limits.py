"""The limits of template rendering: CPU time, the step's deadline, sizes and loops.

See `agent.recipes.templating` for what the limits are; this module is how they are kept.
The sandbox routes every call, every `+ * ** %` and every filter through here, which
estimates the size of the result *before* computing it (`'x' * 10**9` never allocates),
checks the clock, and checks what was made; compiled templates count their loop iterations
and the text they write into buffers (a small code-generator subclass). Nothing is traced;
templates that use none of this pay for one budget object per render.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import time
import types
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2 import (
    nodes,
)
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import (
    SandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    modifies_known_mutable,
)
from jinja2.utils import Namespace, generate_lorem_ipsum
from markupsafe import Markup

from agent.core.errors import TemplateLimitError

MAX_RENDER_CPU_SECONDS = 1.0
MAX_OUTPUT_CHARS = 1_000_000
MAX_LOOP_ITERATIONS = 100_000
MAX_INT_DIGITS = 4_300  # Python's own limit for printing an int
# A render that starts when its step's time is up still gets this long: enough for the step
# to finish and say what went wrong (`expect` renders its message after waiting in vain).
DEADLINE_GRACE_SECONDS = 0.1
# Filters written in Python whose cost grows faster than their input (textwrap, striptags):
# the render's clock is only read between calls, so their input is kept small.
MAX_SLOW_FILTER_INPUT = 50_000

_MAX_INT_BITS = MAX_INT_DIGITS * 10 // 3
_CLOCK_EVERY = 32  # loop iterations between two looks at the clock
_LIMITS_HINT = (
    f"templates are for small computations on the recipe's values; a render may use "
    f"{MAX_RENDER_CPU_SECONDS:g}s of CPU (and never more than the step's timeout), build "
    f"{MAX_OUTPUT_CHARS:,} characters and run {MAX_LOOP_ITERATIONS:,} loop iterations"
)


# ---------------------------------------------------------------------- limits: the budget


@contextlib.contextmanager
def render_deadline(seconds: float | None) -> Iterator[None]:
    """Templates rendered inside the block stop `seconds` from now (a step's timeout), on top
    of the per-render limits. `None` lifts an outer deadline (a step that runs other steps:
    each of those brings its own)."""
    token = step_deadline.set(None if seconds is None else (time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        step_deadline.reset(token)


# (monotonic time, the step's timeout in seconds) of the running step, if any
step_deadline: ContextVar[tuple[float, float] | None] = ContextVar(
    "aijia_template_deadline", default=None
)
current_budget: ContextVar[Budget | None] = ContextVar("aijia_template_budget", default=None)


class LimitHit(Exception):
    """A limit was hit while rendering; `render_text` turns it into TemplateLimitError."""


class Budget:
    """What one render may still spend. The wall clock is read on each call, filter and
    operator (and every few loop iterations); the CPU clock only once the wall clock says the
    CPU allowance could be used up (CPU time never runs faster than wall time). The clocks
    start at the first of these: a render that uses none of them reads no clock at all."""

    __slots__ = ("check_at", "cpu_start", "deadline", "iterations", "written")

    def __init__(self, deadline: tuple[float, float] | None) -> None:
        self.deadline = deadline
        self.check_at = 0.0  # the first tick starts the clocks
        self.cpu_start: float | None = None
        self.iterations = 0
        self.written = 0

    def tick(self) -> None:
        if time.monotonic() >= self.check_at:
            self._check_clocks()

    def _check_clocks(self) -> None:
        now = time.monotonic()
        if self.cpu_start is None:  # the first tick
            self.cpu_start, used = time.thread_time(), 0.0
            if self.deadline is not None:  # a render that starts late still gets the grace
                grace_end = now + DEADLINE_GRACE_SECONDS
                self.deadline = (max(self.deadline[0], grace_end), self.deadline[1])
        else:
            if self.deadline is not None and now >= self.deadline[0]:
                raise LimitHit(f"it ran past the step's timeout ({self.deadline[1]:g}s)")
            used = time.thread_time() - self.cpu_start
            if used >= MAX_RENDER_CPU_SECONDS:
                raise LimitHit(f"it used more than {MAX_RENDER_CPU_SECONDS:g}s of CPU time")
        self.check_at = now + MAX_RENDER_CPU_SECONDS - used
        if self.deadline is not None:
            self.check_at = min(self.check_at, self.deadline[0])

    def iterate(self, items: Any) -> Iterator[Any]:
        for item in items:
            self.iterations += 1
            if self.iterations > MAX_LOOP_ITERATIONS or not self.iterations % _CLOCK_EVERY:
                self._count_iteration()
            yield item

    def _count_iteration(self) -> None:
        if self.iterations > MAX_LOOP_ITERATIONS:
            raise LimitHit(f"it ran more than {MAX_LOOP_ITERATIONS:,} loop iterations")
        self.tick()

    def wrote(self, chars: int) -> None:
        self.written += chars
        if self.written > MAX_OUTPUT_CHARS:
            raise LimitHit(f"it wrote more than {MAX_OUTPUT_CHARS:,} characters")

    def collect(self, chunks: Iterator[str]) -> str:
        parts = []
        for chunk in chunks:
            self.written += len(chunk)  # `wrote`, inline: this loop runs for every chunk
            if self.written > MAX_OUTPUT_CHARS:
                self.wrote(0)
            parts.append(chunk)
        return "".join(parts)

    def materialize(self, value: Any) -> Any:
        """A one-shot iterator (`map`, `select` …) as a list, counted and size-checked item
        by item, so that a lazy pipeline cannot build something huge inside one C call."""
        if not isinstance(value, Iterator) or isinstance(value, LoopContext):
            return value
        items, size = [], 0
        for item in value:
            self.iterations += 1
            if self.iterations > MAX_LOOP_ITERATIONS or not self.iterations % _CLOCK_EVERY:
                self._count_iteration()
            size += _size(item, MAX_OUTPUT_CHARS - size) + 2
            if size > MAX_OUTPUT_CHARS:
                self.require(size, "a sequence")
            items.append(item)
        return items

    def require(self, estimate: int | None, what: str | Callable[[], str]) -> None:
        """Refuse to make something of about `estimate` characters when that is too many."""
        if estimate is not None and estimate > MAX_OUTPUT_CHARS:
            described = what if isinstance(what, str) else what()
            raise LimitHit(
                f"{described} would make about {estimate:,} characters (limit {MAX_OUTPUT_CHARS:,})"
            )

    def check_made(self, value: Any, what: str | Callable[[], str]) -> None:
        if isinstance(value, str):  # the common case, without walking anything
            if len(value) > MAX_OUTPUT_CHARS:
                self.require(len(value), what)
        elif type(value) not in _SCALARS:
            self.require(_size(value), what)


def _active() -> Budget:
    """The running render's budget. Outside `render_text` (a template rendered directly)
    each operation gets a fresh one, so only the size limits apply."""
    return current_budget.get() or Budget(None)


def limit_error(text: str, exc: BaseException) -> TemplateLimitError:
    if isinstance(exc, RecursionError):
        reason = "it nested too deeply (a macro or a recursive loop calling itself)"
    elif isinstance(exc, MemoryError):
        reason = "it ran out of memory"
    else:
        reason = str(exc)
    shown = text if len(text) <= 160 else text[:157] + "..."
    line = _template_line(exc) if "\n" in text.strip() else None
    where = f" (template line {line})" if line else ""
    return TemplateLimitError(f"template {shown!r}{where} stopped: {reason}", hint=_LIMITS_HINT)


def _template_line(exc: BaseException) -> int | None:
    """The template line the error happened on, from Jinja2's (rewritten) traceback."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if template is not None:
            line = template.get_corresponding_lineno(tb.tb_lineno)
        elif tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# ---------------------------------------------------------------------- limits: sizes


_TEXT = (str, bytes, bytearray)
_CONTAINERS = (list, tuple, set, frozenset)
_SCALARS = {int: 8, float: 24, bool: 5, type(None): 4}
_SEQUENCE_TYPES = (str, bytes, list, tuple)


def _size(value: Any, limit: int = MAX_OUTPUT_CHARS) -> int:
    """About how many characters `str(value)` takes; stops counting past `limit`. Shared
    references count each time they are reached, as printing them would."""
    kind = type(value)
    if kind is str:
        return len(value)
    if kind in _SCALARS:
        return value.bit_length() * 3 // 10 + 2 if kind is int else _SCALARS[kind]
    total, todo = 0, [value]
    push, push_all = todo.append, todo.extend
    while todo and total <= limit:
        item = todo.pop()
        kind = type(item)
        if kind is str:
            total += len(item) + 2
        elif kind is list or kind is tuple:
            total += 2 + 2 * len(item)
            if total <= limit:
                push_all(item)
        elif kind is dict:
            total += 2 + 4 * len(item)
            if total <= limit:
                push_all(item.keys())
                push_all(item.values())
        elif kind in _SCALARS:
            total += item.bit_length() * 3 // 10 + 2 if kind is int else _SCALARS[kind]
        elif isinstance(item, _TEXT):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            push_all(item.keys())
            push_all(item.values())
        elif isinstance(item, _CONTAINERS):
            total += 2 + 2 * len(item)
            push_all(item)
        elif isinstance(item, Namespace):
            push(item._Namespace__attrs)
        elif isinstance(item, int):
            total += item.bit_length() * 3 // 10 + 2
        else:  # dates, decimals, undefined, lazy iterators …: small when printed
            total += 24
    return total


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _lines(value: Any) -> int:
    return value.count("\n") + 1 if isinstance(value, str) else _size(value) + 1


def _number(digits: str) -> int:
    return int(digits) if len(digits) < 10 else 10**10


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _percent_size(template: Any, args: Any) -> int | None:
    """`template % args`: the template, the values, and every width and precision."""
    if not isinstance(template, str):
        return None
    values = args if isinstance(args, tuple) else (args,)
    widest = max((v for v in values if isinstance(v, int)), default=0)
    total = len(template) + sum(_size(v) for v in values)
    for match in _PERCENT_FIELD.finditer(template):
        for number in match.groups():
            if number:
                total += widest if number == "*" else _number(number)
    return total


def _binop_size(operator: str, left: Any, right: Any) -> int | None:
    """About how many characters `left <operator> right` makes (None: no concern); numbers
    that would outgrow MAX_INT_DIGITS are refused here, before Python starts on them."""
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "*":
        if ints:
            _check_int_bits(left.bit_length() + right.bit_length(), operator)
            return None
        seq, times = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(times, int) and isinstance(seq, _SEQUENCE_TYPES):
            return _size(seq) * max(times, 0)
    elif operator == "**":
        if ints and right > 0 and abs(left) > 1:
            _check_int_bits(int(right * math.log2(abs(left))) + 1, operator)
    elif operator == "+":
        if isinstance(left, _SEQUENCE_TYPES) and isinstance(right, type(left)):
            return _size(left) + _size(right)
    elif operator == "%":
        return _percent_size(left, right)
    return None


def _check_int_bits(bits: int, operator: str) -> None:
    if bits > _MAX_INT_BITS:
        raise LimitHit(
            f"`{operator}` would make a number of about {bits * 3 // 10:,} digits"
            f" (limit {MAX_INT_DIGITS:,})"
        )


def _call_size(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    """Estimates for the built-in methods that can make a lot from a little."""
    owner = getattr(func, "__self__", None)
    name = getattr(func, "__name__", "")
    if isinstance(owner, _TEXT):
        size = len(owner)
        if name in ("ljust", "rjust", "center", "zfill") and args:
            return max(size, _int(args[0]))
        if name == "expandtabs":
            tab = _int(args[0] if args else kwargs.get("tabsize", 8), 8)
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            return size + tabs * tab
        if name == "join" and args:
            return _join_size(args[0], owner)
        if name == "replace" and len(args) >= 2:
            return _replace_size(owner, *args[:3])
        if name == "translate" and args and isinstance(args[0], dict):
            longest = max((_size(v) for v in args[0].values()), default=1)
            return size * max(longest, 1)
    elif isinstance(owner, int) and name == "to_bytes":
        return _int(args[0] if args else kwargs.get("length", 1), 1)
    return None


def _join_size(value: Any, d: Any = "", attribute: Any = None) -> int | None:
    if not hasattr(value, "__len__"):
        return None
    return _size(value) + _size(d) * len(value)


def _replace_size(s: Any, old: Any, new: Any, count: Any = None) -> int | None:
    if not (isinstance(s, str) and isinstance(old, str) and isinstance(new, str)):
        return None
    found = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(s) + found * max(len(new) - len(old), 0)


def _slow_input(value: Any, name: str) -> int:
    """The size of a slow filter's input, refused above MAX_SLOW_FILTER_INPUT."""
    size = _size(value)
    if size > MAX_SLOW_FILTER_INPUT:
        raise LimitHit(
            f"filter `{name}` is slow on long text: it takes at most"
            f" {MAX_SLOW_FILTER_INPUT:,} characters, got {size:,}"
        )
    return size


def _wordwrap_size(
    s: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None, **_: Any
) -> int:
    size = _slow_input(s, "wordwrap")
    lines = min(size, size // max(_int(width, 79) // 2, 1)) + _lines(s)
    return size + lines * (len(wrapstring) if isinstance(wrapstring, str) else 1)


def _indent_size(s: Any, width: Any = 4, *_: Any, **__: Any) -> int:
    return _size(s) + _lines(s) * (len(width) if isinstance(width, str) else _int(width))


# filter name -> estimate of its result's size, from the filter's own arguments
_FILTER_SIZES: dict[str, Callable[..., int | None]] = {
    "center": lambda value, width=80: max(_size(value), _int(width)),
    "indent": _indent_size,
    "wordwrap": _wordwrap_size,
    "join": _join_size,
    "replace": _replace_size,
    "format": lambda value, *args, **kwargs: _percent_size(value, kwargs or args),
    "batch": lambda value, linecount, fill_with=None: _int(linecount),
    "slice": lambda value, slices, fill_with=None: _int(slices),
    "striptags": lambda value: _slow_input(value, "striptags"),
}


def _estimate(estimator: Callable[..., int | None], *args: Any, **kwargs: Any) -> int | None:
    try:
        return estimator(*args, **kwargs)
    except LimitHit:
        raise
    except Exception:  # arguments the filter or method refuses itself, with its own message
        return None


def limited_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """The filter with the budget around it: clock, size estimate, size of the result."""
    skip = 0 if getattr(func, "jinja_pass_arg", None) is None else 1  # context/environment
    estimator = _FILTER_SIZES.get(name)
    what = f"filter `{name}`"

    @functools.wraps(func)  # keeps `jinja_pass_arg`: Jinja2 still passes the context
    def limited(*args: Any, **kwargs: Any) -> Any:
        budget = _active()
        budget.tick()
        for arg in args[skip:]:
            if isinstance(arg, Iterator):
                args = (*args[:skip], *(budget.materialize(a) for a in args[skip:]))
                break
        if estimator is not None:
            budget.require(_estimate(estimator, *args[skip:], **kwargs), what)
        result = func(*args, **kwargs)
        if len(args) <= skip or result is not args[skip]:  # `default` hands its value back
            budget.check_made(result, what)
        return result

    return limited


def lipsum_limited(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    _active().require(_int(n) * _int(max) * 12, "lipsum()")
    return generate_lorem_ipsum(n, html, min, max)


def _describe(func: Any) -> Callable[[], str]:
    def describe() -> str:
        owner = getattr(func, "__self__", None)
        name = getattr(func, "__name__", None) or type(func).__name__
        if owner is not None and not isinstance(owner, types.ModuleType):
            return f"`{type(owner).__name__}.{name}()`"
        return f"`{name}()`"

    return describe


# ---------------------------------------------------------------------- limits: the sandbox


class _CountedLoop:
    """A loop's items: iterating counts them; `len()` still works for `loop.length`."""

    __slots__ = ("_budget", "_items")

    def __init__(self, budget: Budget, items: Any) -> None:
        self._budget = budget
        self._items = items

    def __iter__(self) -> Iterator[Any]:
        return self._budget.iterate(self._items)

    def __len__(self) -> int:
        return len(self._items)


class _OutputBuffer(list[str]):
    """Where macros, call blocks and `{% set %}` blocks write: counted like the output."""

    __slots__ = ("_budget",)

    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self._budget = budget

    def append(self, text: str) -> None:
        self._budget.wrote(len(text))
        super().append(text)

    def extend(self, texts: Any) -> None:
        texts = tuple(texts)
        self._budget.wrote(sum(len(t) for t in texts))
        super().extend(texts)


class _LimitedFormatter(SandboxedFormatter):
    """`str.format` in templates: each field's width and the running total are checked
    before the field is formatted."""

    total = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        widths = sum(_number(n) for n in re.findall(r"\d+", format_spec))
        self.total += _size(value) + widths
        _active().require(self.total, "`str.format()`")
        return super().format_field(value, format_spec)


class _LimitedEscapeFormatter(_LimitedFormatter, SandboxedEscapeFormatter):
    pass


def _is_loop_guard(node: nodes.Node) -> bool:
    target = getattr(node, "node", None)
    return isinstance(target, nodes.EnvironmentAttribute) and target.name == "guard_loop"


class _LimitedCodeGenerator(CodeGenerator):
    """Jinja2's code generator with the hooks the limits need (see LimitedEnvironment)."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        """`for x in <items>` becomes `for x in environment.guard_loop(<items>)`: a call of
        an environment attribute, a node only the code generator makes (Jinja2 allows no
        new node types)."""
        if not _is_loop_guard(node.iter):
            guard = nodes.EnvironmentAttribute("guard_loop", lineno=node.iter.lineno)
            node.iter = nodes.Call(guard, [node.iter], [], None, None, lineno=node.iter.lineno)
        super().visit_For(node, frame)

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        if not _is_loop_guard(node):
            super().visit_Call(node, frame, forward_caller=forward_caller)
            return
        self.write("environment.guard_loop(")  # not through the sandbox's `call`
        self.visit(node.args[0], frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        """As Jinja2's, with the operands checked before they are joined."""
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"{func_name}(environment.checked_parts((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("environment.checked_literal(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.checked_literal(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # `for a, b in …`, `{% set a, b = … %}`: assignment targets
            super().visit_Tuple(node, frame)
            return
        self.write("environment.checked_literal(")
        super().visit_Tuple(node, frame)
        self.write(")")


class LimitedEnvironment(SandboxedEnvironment):
    """The sandbox with resource limits (see the module docstring). The compiled code calls
    `guard_loop`, `output_buffer`, `checked_parts` and `checked_literal`; the sandbox itself
    calls `call`, `call_binop` and `wrap_str_format`; filters are wrapped in `environment()`."""

    code_generator_class = _LimitedCodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = _active()
        budget.tick()
        budget.require(_binop_size(operator, left, right), f"`{operator}`")
        result = self.binop_table[operator](left, right)
        budget.check_made(result, f"`{operator}`")
        return result

    def call(
        __self,  # the sandbox's own spelling: no clash with the callee's keyword arguments
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        budget = _active()
        budget.tick()
        if isinstance(__obj, LoopContext):  # `loop(children)` in a recursive for loop
            if args:
                args = (_CountedLoop(budget, args[0]), *args[1:])
            return SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
        for arg in args:
            if isinstance(arg, Iterator):
                args = tuple(budget.materialize(a) for a in args)
                break
        what = _describe(__obj)
        budget.require(_estimate(_call_size, __obj, args, kwargs), what)
        result = SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
        budget.check_made(result, what)
        owner = getattr(__obj, "__self__", None)
        if owner is not None and modifies_known_mutable(owner, getattr(__obj, "__name__", "")):
            budget.check_made(owner, what)  # `l.append(l[:])` in a loop
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        text = value.__self__
        if not isinstance(text, str):
            return None
        format_map = value.__name__ == "format_map"

        def limited_format(*args: Any, **kwargs: Any) -> str:
            if format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                mapping = args[0]
                args, kwargs = (), mapping
            formatter: _LimitedFormatter
            if isinstance(text, Markup):
                formatter = _LimitedEscapeFormatter(self, escape=text.escape)
            else:
                formatter = _LimitedFormatter(self)
            return type(text)(formatter.vformat(text, args, kwargs))

        return functools.update_wrapper(limited_format, value)

    def guard_loop(self, items: Any) -> Any:
        return _CountedLoop(_active(), items)

    def output_buffer(self) -> list[str]:
        return _OutputBuffer(_active())

    def checked_parts(self, parts: tuple[Any, ...]) -> tuple[Any, ...]:
        """The operands of `~`, before they are joined."""
        budget = _active()
        budget.tick()
        budget.require(sum(_size(p) for p in parts), "`~`")
        return parts

    def checked_literal(self, value: Any) -> Any:
        """A list, tuple or dict written in the template (`[x, x]`), before anything prints,
        compares or hashes it."""
        if value:
            budget = _active()
            budget.tick()
            budget.check_made(value, "a literal")
        return value
