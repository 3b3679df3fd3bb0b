"""Reading a text file we did not write (a recipe, config.yaml, an inputs file) without
trusting it: a regular file only, a size cap, strict UTF-8, no NUL bytes.

Every refusal is a `FileRefused` naming the file, where (line and column, when there is a
place) and what to do; callers turn it into their own error (RecipeError, ConfigError,
InputError), so all of them exit 2 with the file named and no traceback.

Why each check: a FIFO or a character device (`/dev/zero`, `/dev/stdin`) would block or
never end, so only regular files are opened (and opened non-blocking, checked again after
opening); the size is checked before reading and again while reading (the file may grow);
UTF-8 is decoded strictly so that latin-1, UTF-16 and broken bytes are named at their offset
instead of surfacing as mojibake in a selector or an order id; a NUL byte means a binary file
(or UTF-16/32 without a byte-order mark), which no recipe, config or CSV contains.
"""

from __future__ import annotations

import codecs
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.core.errors import Location

KIB = 1024
MIB = 1024 * KIB

_UTF16_32_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_SAVE_AS_UTF8 = "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE > NEW`)"


class FileRefused(Exception):
    """A file that is not read: `location` is the file (with line and column when known)."""

    def __init__(self, location: Location, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """`file:line:col: message` (plus the hint), for errors without Problem lists."""
        text = f"{self.location}: {self.message}"
        return f"{text}\n  hint: {self.hint}" if self.hint else text


@dataclass(frozen=True)
class Place:
    """A byte offset in a file as an editor shows it (1-based line and byte column)."""

    line: int
    column: int

    @classmethod
    def of(cls, data: bytes, offset: int) -> Place:
        line_start = data.rfind(b"\n", 0, offset) + 1
        return cls(data.count(b"\n", 0, offset) + 1, offset - line_start + 1)


def size_text(size: int) -> str:
    """1536 -> '1.5 KiB'; for messages about limits."""
    if size >= MIB:
        return f"{size / MIB:.3g} MiB"
    if size >= KIB:
        return f"{size / KIB:.3g} KiB"
    return f"{size} bytes"


def read_bytes(path: Path, *, what: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; FileRefused otherwise.

    `what` names the file's role in messages ("recipe", "config file", "inputs file").
    """
    where = Location(str(path), 1)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileRefused(where, f"{what} does not exist") from None
    except OSError as exc:
        raise FileRefused(where, f"cannot read the {what}: {exc.strerror}") from None
    _check_kind(info, where, what)
    _check_size(info.st_size, where, what, max_bytes)
    try:
        # non-blocking: a FIFO swapped in after the stat must not hang the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        hint = "check the file's permissions" if isinstance(exc, PermissionError) else None
        raise FileRefused(where, f"cannot read the {what}: {exc.strerror}", hint=hint) from None
    try:
        _check_kind(os.fstat(fd), where, what)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise FileRefused(where, f"cannot read the {what}: {exc.strerror}") from None
    finally:
        os.close(fd)
    _check_size(len(data), where, what, max_bytes)
    return data


def decode_utf8(data: bytes, path: Path, *, what: str) -> str:
    """Strict UTF-8 text of `data` (a UTF-8 byte-order mark dropped); FileRefused naming the
    line, column and byte offset of the first byte that is not UTF-8, or of a NUL byte."""
    for bom, name in _UTF16_32_BOMS:
        if data.startswith(bom):
            raise FileRefused(
                Location(str(path), 1),
                f"the {what} is {name} text (it starts with a {name} byte-order mark); "
                "expected UTF-8",
                hint=_SAVE_AS_UTF8,
            )
    nul = data.find(b"\x00")
    if nul >= 0:
        place = Place.of(data, nul)
        raise FileRefused(
            Location(str(path), place.line, place.column),
            f"the {what} contains a NUL byte (offset {nul}): it is a binary file, "
            "or UTF-16/UTF-32 text, not UTF-8 text",
            hint=f"give a text file; {_SAVE_AS_UTF8}",
        )
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        place = Place.of(data, exc.start)
        bad = data[exc.start : exc.start + 1].hex()
        raise FileRefused(
            Location(str(path), place.line, place.column),
            f"the {what} is not UTF-8: byte 0x{bad} at offset {exc.start} ({exc.reason})",
            hint=_SAVE_AS_UTF8,
        ) from None


def read_text(path: Path, *, what: str, max_bytes: int) -> str:
    """`read_bytes` then `decode_utf8`: the checked text of a file we did not write."""
    return decode_utf8(read_bytes(path, what=what, max_bytes=max_bytes), path, what=what)


def _check_kind(info: os.stat_result, where: Location, what: str) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    if stat.S_ISDIR(info.st_mode):
        raise FileRefused(where, f"the {what} is a directory; expected a file")
    kind = (
        "a FIFO (named pipe)"
        if stat.S_ISFIFO(info.st_mode)
        else "a device"
        if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
        else "a socket"
        if stat.S_ISSOCK(info.st_mode)
        else "not a regular file"
    )
    raise FileRefused(
        where,
        f"the {what} is {kind}; only regular files are read",
        hint="copy the content into a regular file and give that path",
    )


def _check_size(size: int, where: Location, what: str, max_bytes: int) -> None:
    if size > max_bytes:
        shown = "more than " + size_text(max_bytes) if size == max_bytes + 1 else size_text(size)
        raise FileRefused(
            where,
            f"the {what} is too large ({shown}); the limit is {size_text(max_bytes)}",
            hint="see 'Limits on input files' in the README",
        )


def create_private_once(path: Path, data: bytes) -> bool:
    """Write `data` to a new 0600 file at `path` (parents 0700), whole or not at all: written
    to a private temporary name, fsynced, then linked into place. link() fails when `path`
    exists, so a file is never overwritten and a process starting at the same moment never
    reads a half-written one. False (nothing written) when `path` already existed."""
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True
