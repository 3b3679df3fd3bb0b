"""Is the data dir private? Every folder 0700, every file without group or other bits, and
another local user (`nobody`) can neither list nor read any of it. Reading as another user
needs root (this suite's machines run as root); elsewhere that part is skipped, saying why."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

OTHER_USER = "nobody"


def other_user() -> str:
    """The user that tries to read the data dir; skips when this process cannot become it."""
    if os.geteuid() != 0:
        pytest.skip("reading the data dir as another user needs root (to switch users)")
    try:
        pwd.getpwnam(OTHER_USER)
    except KeyError:
        pytest.skip(f"no user {OTHER_USER!r} on this machine to read the data dir as")
    return OTHER_USER


def read_as(user: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    """Try, as `user`, to list each folder and read each file among `paths`; prints one line
    per attempt: OK or the exception's name."""
    python = shutil.which("python3", path="/usr/bin:/bin") or shutil.which("python3")
    assert python is not None
    script = (
        "import os, sys\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read(1)\n"
        "        print('OK', p)\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__, p)\n"
    )
    return subprocess.run(
        [python, "-c", script, *map(str, paths)],
        user=user,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def loose_modes(paths: list[Path]) -> list[str]:
    """The paths among `paths` that are not private: folders not exactly 0700, files with
    any group or other bit."""
    loose = []
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        if (path.is_dir() and mode != 0o700) or (not path.is_dir() and mode & 0o077):
            loose.append(f"{path} {stat.filemode(path.stat().st_mode)}")
    return loose


def assert_unreadable_by_others(paths: list[Path]) -> None:
    """Another local user can neither list these folders nor read these files (checked
    against a control file next to them that it can read)."""
    user = other_user()
    control = paths[0].parent / "readable-by-anyone.txt"
    control.write_text("control")
    os.chmod(control, 0o644)
    try:
        attempts = read_as(user, control, *paths).stdout.splitlines()
    finally:
        control.unlink()
    assert attempts[0] == f"OK {control}", f"the control file is readable: {attempts[0]}"
    readable = [a for a in attempts[1:] if not a.startswith("PermissionError ")]
    assert not readable, f"another user could read: {readable}"


def assert_private(data_dir: Path, *extra_files: Path) -> None:
    """Every folder under `data_dir` is 0700 and no file has group or other bits; and
    another local user can neither list the folders nor read the files."""
    everything = [data_dir, *sorted(data_dir.rglob("*")), *extra_files]
    assert any(p.is_file() for p in everything), "something was written"
    loose = loose_modes(everything)
    assert not loose, f"not private: {loose}"
    assert_unreadable_by_others(everything)
