"""A corpus of hostile files, made at test time (the big ones are never committed).

Each `Case` writes one file (or FIFO, symlink, directory) into a folder and says which
command reads it: a recipe (`aijia recipes validate FILE`, or `aijia run FILE`), a config
file (`aijia runs list -c FILE`) or an inputs file (`aijia run RECIPE -f FILE`). Every case
must be refused with exit 2, the file named, no traceback, in under two seconds; `expect`
is a piece of the message that says why.
"""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024

# a valid recipe head, for cases that break one thing in an otherwise plausible recipe
HEAD = "name: hostile\nsite: shoplane\ninputs:\n  order_id: {type: string}\nsteps:\n"
STEP = "  - goto: /portal/sale/order?search={{ inputs.order_id }}\n"
VALID = HEAD + STEP
BILLION_LAUGHS = "\n".join(
    [f'l0: &l0 ["{"lol"}"]']
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
)
PNG = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + b"\x00" * 17
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x02\x00\x3e\x00" + b"\x00" * 44


@dataclass(frozen=True)
class Case:
    name: str
    reader: str  # "recipe", "run_recipe", "config" or "inputs"
    make: Callable[[Path], Path]  # writes the file into the folder, returns its path
    expect: str  # a piece of the message


def _bytes(filename: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / filename
        path.write_bytes(data)
        return path

    return make


def _text(filename: str, text: str) -> Callable[[Path], Path]:
    return _bytes(filename, text.encode("utf-8"))


def _repeated(filename: str, head: bytes, chunk: bytes, size: int) -> Callable[[Path], Path]:
    """A file of `size` bytes: `head`, then `chunk` over and over (written in blocks)."""

    def make(folder: Path) -> Path:
        path = folder / filename
        with path.open("wb") as handle:
            handle.write(head)
            block = chunk * max(1, MIB // len(chunk))
            left = size - len(head)
            while left > 0:
                handle.write(block[:left])
                left -= len(block)
        return path

    return make


def _fifo(filename: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / filename
        os.mkfifo(path)
        return path

    return make


def _symlink(filename: str, target: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / filename
        path.symlink_to(target)
        return path

    return make


def _directory(filename: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / filename
        path.mkdir()
        (path / "inside.yaml").write_text(VALID, encoding="utf-8")
        return path

    return make


def _zip(filename: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / filename
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("recipe.yaml", VALID)
        return path

    return make


def _many_problems() -> str:
    """A recipe just under the size limit with a problem on every line (about 1,700)."""
    lines = [HEAD]
    size, i = len(HEAD), 0
    while size < 64 * 1024 - 100:
        line = f"  - clik: {{role: button, nmae: x{i}}}\n"
        lines.append(line)
        size, i = size + len(line), i + 1
    return "".join(lines)


def _recipes() -> list[Case]:
    r = "recipe"
    return [
        Case("latin1", r, _bytes("latin1.yaml", (VALID + "# café\n").encode("latin-1")),
             "not UTF-8: byte 0xe9"),
        Case("utf16_bom", r, _bytes("utf16.yaml", VALID.encode("utf-16")), "UTF-16"),
        Case("utf16_no_bom", r, _bytes("utf16le.yaml", VALID.encode("utf-16-le")), "NUL byte"),
        Case("utf32_bom", r, _bytes("utf32.yaml", VALID.encode("utf-32")), "UTF-32"),
        Case("lone_surrogate", r,
             _bytes("surrogate.yaml", HEAD.encode() + b"  - goto: /\xed\xa0\x80\n"), "not UTF-8"),
        Case("overlong", r, _bytes("overlong.yaml", HEAD.encode() + b"  - goto: /\xc0\xaf\n"),
             "not UTF-8: byte 0xc0"),
        Case("truncated_multibyte", r, _bytes("truncated.yaml", VALID.encode() + b"# \xe2\x82"),
             "not UTF-8"),
        Case("png", r, _bytes("image.yaml", PNG), "NUL byte"),
        Case("elf", r, _bytes("program.yaml", ELF), "NUL byte"),
        Case("zip", r, _zip("archive.yaml"), "NUL byte"),
        Case("nul_in_text", r, _bytes("nul.yaml", VALID.encode() + b"# a\x00b\n"), "NUL byte"),
        Case("control_char", r, _text("control.yaml", VALID + "# bell \x07\n"), "not valid YAML"),
        Case("empty", r, _text("empty.yaml", ""), "a recipe is a mapping"),
        Case("only_comments", r, _text("comments.yaml", "# nothing\n# here\n"),
             "a recipe is a mapping"),
        Case("top_level_list", r, _text("list.yaml", "- name: x\n- steps: []\n"),
             "a recipe is a mapping"),
        Case("top_level_scalar", r, _text("scalar.yaml", "just some text\n"),
             "a recipe is a mapping"),
        Case("deep_flow_list", r, _text("deep_list.yaml", "[" * 10_000), "not valid YAML"),
        Case("deep_flow_list_closed", r,
             _text("deep_closed.yaml", "steps: " + "[" * 200 + "]" * 200 + "\n"),
             "nested more than 64 levels"),
        Case("deep_flow_map", r,
             _text("deep_map.yaml", "steps: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n"),
             "nest"),
        Case("deep_block", r,
             _text("deep_block.yaml", HEAD + "".join("  " * i + "- a:\n" for i in range(1, 200))),
             "nested more than 64 levels"),
        Case("billion_laughs", r, _text("laughs.yaml", BILLION_LAUGHS + "\n"), "expands to more"),
        Case("alias_cycle", r, _text("cycle.yaml", VALID + "extra: &a [1, *a]\n"), "a cycle"),
        Case("alias_undefined", r, _text("undefined.yaml", VALID + "extra: *nowhere\n"),
             "names no anchor"),
        Case("too_many_aliases", r,
             _text("aliases.yaml", "x: &x 1\nl: [" + ", ".join(["*x"] * 150) + "]\n"),
             "more than 100 aliases"),
        Case("merge_key", r,
             _text("merge.yaml", "base: &b {site: shoplane}\nrecipe:\n  <<: *b\n" + VALID),
             "merge keys"),
        Case("duplicate_key", r, _text("duplicate.yaml", VALID + "name: again\n"),
             "duplicate key `name`"),
        Case("thousands_of_problems", r, _text("problems.yaml", _many_problems()),
             "more problem(s) not shown"),
        Case("just_over_the_limit", r,
             _repeated("over.yaml", VALID.encode(), b"# pad\n", 64 * 1024 + 1), "too large"),
        Case("fifty_mb", r, _repeated("huge.yaml", VALID.encode(), b"# padding\n", 50 * MIB),
             "too large"),
        Case("five_mb_line", r,
             _repeated("line.yaml", b"name: ", b"x", 5 * MIB), "too large"),
        Case("long_key", r, _text("long_key.yaml", VALID + "k" * 500 + ": 1\n"),
             "mapping key of 500 characters"),
        Case("very_long_key", r, _text("longer_key.yaml", VALID + "k" * 50_000 + ": 1\n"),
             "not valid YAML"),  # libyaml's own limit on a key: 1024 characters
        Case("tabs", r, _text("tabs.yaml", HEAD + "\t- goto: /\n"), "not valid YAML"),
        Case("unclosed_quote", r, _text("quote.yaml", HEAD + '  - goto: "/portal\n'),
             "not valid YAML"),
        Case("huge_float", r, _text("float.yaml", VALID + "timeout: 1.0e+99999\n"), "too large"),
        Case("huge_int", r, _text("int.yaml", VALID + "timeout: " + "9" * 10_000 + "\n"),
             "integer of 10000 digits"),
        Case("python_tag", r,
             _text("python.yaml", "name: !!python/object/apply:os.system [echo hi]\n"),
             "tag !!python/object/apply:os.system is not allowed"),
        Case("binary_tag", r, _text("binary.yaml", VALID + "blob: !!binary aGVsbG8=\n"),
             "tag !!binary is not allowed"),
        Case("custom_tag", r, _text("custom.yaml", VALID + "x: !secret abc\n"),
             "tag !secret is not allowed"),
        Case("two_documents", r, _text("two.yaml", VALID + "---\n" + VALID), "second YAML"),
        Case("symlink_dev_zero", r, _symlink("zero.yaml", "/dev/zero"), "a device"),
        Case("fifo", r, _fifo("pipe.yaml"), "FIFO"),
        Case("directory_run", "run_recipe", _directory("folder.yaml"), "is a directory"),
        Case("fifo_run", "run_recipe", _fifo("pipe_run.yaml"), "FIFO"),
        Case("binary_run", "run_recipe", _bytes("binary_run.yaml", PNG), "NUL byte"),
        Case("bomb_run", "run_recipe", _text("bomb_run.yaml", BILLION_LAUGHS), "expands"),
    ]  # fmt: skip


def _configs() -> list[Case]:
    c = "config"
    return [
        Case("config_latin1", c, _bytes("latin1_config.yaml", b"data_dir: caf\xe9\n"),
             "not UTF-8"),
        Case("config_binary", c, _bytes("binary_config.yaml", ELF), "NUL byte"),
        Case("config_bomb", c, _text("bomb_config.yaml", BILLION_LAUGHS), "expands to more"),
        Case("config_deep", c, _text("deep_config.yaml", "a: " + "[" * 5000), "not valid YAML"),
        Case("config_huge", c, _repeated("huge_config.yaml", b"", b"# padding\n", 50 * MIB),
             "too large"),
        Case("config_fifo", c, _fifo("pipe_config.yaml"), "FIFO"),
        Case("config_directory", c, _directory("dir_config.yaml"), "is a directory"),
        Case("config_dev_zero", c, _symlink("zero_config.yaml", "/dev/zero"), "a device"),
        Case("config_python_tag", c,
             _text("tag_config.yaml", "data_dir: !!python/name:os.getcwd ''\n"),
             "is not allowed"),
        Case("config_list", c, _text("list_config.yaml", "- a\n- b\n"), "expected a mapping"),
        Case("config_huge_int", c, _text("int_config.yaml", "x: " + "1" * 5000 + "\n"),
             "integer of 5000 digits"),
    ]  # fmt: skip


def _inputs() -> list[Case]:
    i = "inputs"
    deep = "[" * 100_000 + "]" * 100_000
    return [
        Case("csv_latin1", i, _bytes("latin1.csv", b"order_id\nCAF\xc9\n"), "not UTF-8"),
        Case("csv_utf16", i, _bytes("utf16.csv", "order_id\nA1\n".encode("utf-16")), "UTF-16"),
        Case("csv_nul", i, _bytes("nul.csv", b"order_id\nA\x00B\n"), "NUL byte"),
        Case("csv_png", i, _bytes("image.csv", PNG), "NUL byte"),
        Case("csv_ten_mb_field", i,
             _repeated("field.csv", b'order_id\n"', b"x", 10 * MIB), "field larger"),
        Case("csv_fifty_mb", i, _repeated("huge.csv", b"order_id\n", b"A1\n", 50 * MIB),
             "too large"),
        Case("csv_too_many_rows", i, _text("rows.csv", "order_id\n" + "A1\n" * 100_001),
             "more than 100000 rows"),
        Case("csv_empty", i, _text("empty.csv", ""), "empty"),
        Case("csv_extra_values", i, _text("extra.csv", "order_id\nA1\nB2,oops\n"),
             "extra.csv:3: more values"),
        Case("csv_fifo", i, _fifo("pipe.csv"), "FIFO"),
        Case("csv_dev_zero", i, _symlink("zero.csv", "/dev/zero"), "a device"),
        Case("csv_directory", i, _directory("folder.csv"), "is a directory"),
        Case("jsonl_deep", i, _text("deep.jsonl", '{"order_id": ' + deep + "}\n"),
             "nested too deeply"),
        Case("jsonl_bad_line", i, _text("bad.jsonl", '{"order_id": "A1"}\n\n{oops\n'),
             "bad.jsonl:3: not valid JSON"),
        Case("jsonl_nan", i, _text("nan.jsonl", '{"order_id": NaN}\n'), "NaN"),
        Case("jsonl_huge_int", i, _text("int.jsonl", '{"order_id": ' + "7" * 10_000 + "}\n"),
             "int.jsonl:1: not valid JSON"),
        Case("jsonl_duplicate", i, _text("dup.jsonl", '{"order_id": "A", "order_id": "B"}\n'),
             "given twice"),
        Case("jsonl_array", i, _text("array.jsonl", "[1, 2]\n"), "expected a JSON object"),
        Case("jsonl_binary", i, _bytes("program.jsonl", ELF), "NUL byte"),
    ]  # fmt: skip


CASES: list[Case] = _recipes() + _configs() + _inputs()
