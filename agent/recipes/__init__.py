"""The recipe language: from YAML text to a checked `Recipe`, and the values it works with.

model.py        the Recipe model and its library API: load, find, list, outline, JSON Schema
yaml_source.py  YAML with the line and column of every node, for errors that point at them
checks.py       static checks (phases, templates, names) with the offending line and a hint
problems.py     pydantic validation errors turned into problems at the YAML line
inputs.py       the inputs a recipe declares, and binding raw values to them
rows.py         run inputs from the command line: `k=v` pairs, CSV and JSONL files
templating.py   sandboxed Jinja2, strict about undefined names
template_limits.py  how renders are bounded: CPU time, the step's deadline, sizes, loops
coerce.py       text read from a page turned into text, int, number, money, date
"""
