"""The `aijia` command line, one module per command group; `cli.py` (the console script the
layout names) assembles them into one typer app.

Each command parses its options, calls one method of the facade (`agent.Aijia`) and renders
the answer with small presenter functions; `common.handles_errors` is the one place errors
become exit codes (the table is in `common`'s docstring). Modules import only typer and
`agent.cli.common` at load time, so `aijia --help` stays fast: the facade, rich tables and
the evidence store are imported inside the commands that use them.

Seller data is hostile: everything printed goes through `common.console()` (an
`InertConsole`, `terminal.py`), seller text in a line or cell through `present.shown`, JSON
through `common.json_text`; none of them lets a control character reach the terminal.
"""
