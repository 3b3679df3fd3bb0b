"""The core every layer uses, depending on nothing else of Aijia's (an import contract):

errors.py     every error Aijia raises on purpose, the hierarchy drawn in its docstring
states.py     the run state machine (`RunState`, `check_transition`)
settings.py   config.yaml as typed settings (`Settings`, `load_config`)
origins.py    exact (scheme, host, port) origins a site's browser may reach
secrets.py    secret references ({$env}, {$file}, {$keyring}) and the `Masker`
spellings.py  every spelling of a secret (HTML, JSON, URL, base64, latin-1 …), found fast
text.py       seller text made inert for a terminal (`printable`, `json_printable`)
files.py      reading a file we did not write: regular, size-capped, strict UTF-8, no NUL
safe_yaml.py  one bounded YAML loader (depth, aliases, keys, tags) for recipes and config
"""
