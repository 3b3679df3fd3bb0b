"""The console every command prints through: seller text reaches the terminal inert.

Commands escape seller data for rich markup (`present.shown`) and show its control
characters escaped (`agent.core.text.printable`) where they build a line or a cell. This
console is the net under them, so a path that forgot cannot drive the reviewer's terminal:

- every string it is given (a line, a table cell, a title) is made printable before rich
  parses markup and measures it, so tables keep their layout;
- every segment it renders (rich `Text` built elsewhere, `print_json`) is made printable
  again on its way out; rich's own control segments (cursor moves of the progress bar) are
  left alone, and its styles are turned into escapes only after this, when it writes.

Emoji codes are off: `:warning:` in a buyer name is shown as typed, not as a picture.
Imported by `common.console()` when a command prints, so `aijia --help` never loads rich here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from agent.core.text import printable


class InertConsole(Console):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{"emoji": False, **kwargs})

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text, multiline=True), **kwargs)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None:
                text = printable(segment.text, multiline=True)
                if text != segment.text:
                    segment = Segment(text, segment.style)
            yield segment
