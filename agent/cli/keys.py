"""`aijia keys …`: the Ed25519 key that signs sealed evidence roots (evidence/signing.py).

    aijia keys init     create it (0600, outside the store; never overwrites one)
    aijia keys show     its fingerprint, path and public key: give the fingerprint to whoever
                        checks your evidence, through a channel they trust

The key's path is `evidence.signing.key_file` (default $XDG_CONFIG_HOME/aijia/signing.key).
"""

from __future__ import annotations

import base64
from pathlib import Path

import typer

from agent.cli.common import ConfigOption, console, handles_errors, print_json

app = typer.Typer(
    help="The signing key of the evidence store: create it, show its fingerprint.",
    no_args_is_help=True,
)


def _show(signer_path: Path, fingerprint: str, public_raw: bytes, as_json: bool) -> None:
    public = base64.b64encode(public_raw).decode("ascii")
    if as_json:
        print_json({"fingerprint": fingerprint, "path": str(signer_path), "public_key": public})
        return
    out = console()
    out.print(f"fingerprint  {fingerprint}", soft_wrap=True)
    out.print(f"path         {signer_path}", soft_wrap=True)
    out.print(f"public key   {public} (Ed25519, raw, base64)", soft_wrap=True)


@app.command("init")
@handles_errors
def keys_init(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Create the signing key (refuses to overwrite one); print its fingerprint."""
    from agent.core.settings import load_config
    from evidence.signing import init_key

    signer = init_key(load_config(config).evidence.signing.key_file)
    _show(signer.path, signer.fingerprint, signer.public_raw, as_json)


@app.command("show")
@handles_errors
def keys_show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path | None = ConfigOption,
) -> None:
    """Print the signing key's fingerprint, path and public key (never the private key)."""
    from agent.core.settings import load_config
    from evidence.signing import read_key

    signer = read_key(load_config(config).evidence.signing.key_file)
    _show(signer.path, signer.fingerprint, signer.public_raw, as_json)
