"""The deploy files work as shipped: the Dockerfile (read statically always, built when a Docker
daemon answers), the systemd units (`systemd-analyze verify`), and where data lives (the
project's var/, $AIJIA_DATA_DIR, or the user's XDG data dir outside any project)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import agent.core.settings as settings_module
from agent.core.settings import PROJECT_ROOT, load_config
from tests.conftest import aijia_command

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DEPLOY = PROJECT_ROOT / "deploy"
UNITS = ["aijia-serve.service", "aijia-scheduler.service"]


# --------------------------------------------------------------------------- Dockerfile


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        word, _, rest = whole.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def of(kind: str) -> list[str]:
    return [args for word, args in instructions(DOCKERFILE) if word == kind]


def ignored(path: str) -> bool:
    patterns = [
        p.strip().rstrip("/")
        for p in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    return any(fnmatch.fnmatch(path, p) for p in patterns)


def test_every_base_image_is_debian() -> None:
    images = [args.split()[0] for args in of("FROM")]
    assert images, "no FROM in the Dockerfile"
    for image in images:
        assert re.fullmatch(r"(debian:[\w.-]+|python:[\w.-]*-(bookworm|trixie))", image), image


def test_every_copy_source_exists_in_the_build_context() -> None:
    sources = []
    for args in of("COPY"):
        words = shlex.split(args)
        if any(w.startswith("--from=") for w in words):
            continue  # from an earlier stage, not the context
        sources += [w for w in words[:-1] if not w.startswith("--")]
    assert "pyproject.toml" in sources and "agent" in sources
    for source in sources:
        assert (PROJECT_ROOT / source).exists(), f"COPY {source}: not in the repo"
        assert not ignored(source), f"COPY {source}: excluded by .dockerignore"
    # the wheel's shipped recipes come through this link: its target must be copied too
    link = PROJECT_ROOT / "agent" / "sandbox_recipes"
    assert link.is_symlink() and os.readlink(link) == "../recipes" and "recipes" in sources


def test_the_image_runs_an_existing_aijia_command_as_an_unprivileged_user() -> None:
    (cmd,) = of("CMD")
    words = json.loads(cmd)  # exec form: no shell between tini and aijia
    assert words[0] == "aijia"
    subcommand = [w for w in words[1:] if not w.startswith("-")][:1]
    assert subcommand == ["serve"]
    helped = subprocess.run(
        [aijia_command(), *subcommand, "--help"], capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0, helped.stderr
    for flag in (w for w in words if w.startswith("--")):
        assert flag in helped.stdout, f"CMD uses {flag}, which `aijia serve` does not take"
    for run in of("RUN"):  # `aijia …` at build time is a real command too
        for found in re.findall(r"\baijia ([a-z]+)", run):
            assert (
                subprocess.run([aijia_command(), found, "--help"], capture_output=True).returncode
                == 0
            )
    (entry,) = of("ENTRYPOINT")
    assert json.loads(entry)[0] == "/usr/bin/tini" and "tini" in " ".join(of("RUN"))
    users = of("USER")
    assert users and users[-1] not in ("root", "0"), users
    assert "chromium" in " ".join(of("RUN")).split()


def test_data_lives_on_a_volume_and_the_healthcheck_hits_a_console_page() -> None:
    env = " ".join(of("ENV"))
    assert "AIJIA_DATA_DIR=/data" in env and "AIJIA_BROWSER=/usr/bin/chromium" in env
    volumes = json.loads(of("VOLUME")[0])
    assert "/data" in volumes
    assert re.search(r"XDG_CONFIG_HOME=(\S+)", env).group(1) in volumes  # type: ignore[union-attr]
    (health,) = of("HEALTHCHECK")
    port = json.loads(of("CMD")[0])[-1]
    url = re.search(r"http://127\.0\.0\.1:(\d+)(/\S*?)'", health)
    assert url is not None and url.group(1) == port
    from agent.serve.auth import routes

    assert url.group(2) in {getattr(r, "path", None) for r in routes}


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def test_docker_build_and_the_image_runs_aijia() -> None:
    if not docker_answers():
        pytest.skip("no Docker daemon answers `docker info` here; the static tests above ran")
    tag = "aijia-test:deploy"
    built = subprocess.run(
        ["docker", "build", "-t", tag, str(PROJECT_ROOT)], capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-4000:]
    doctor = subprocess.run(
        ["docker", "run", "--rm", tag, "aijia", "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["browser"]["ok"] and "/usr/bin/chromium" in checks["browser"]["detail"]
    assert checks["data dir"]["detail"].startswith("/data")


# --------------------------------------------------------------------------- systemd


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_unit_verifies_and_is_hardened(unit: str, tmp_path: Path) -> None:
    text = (DEPLOY / unit).read_text()
    for line in (
        "User=aijia",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/aijia /var/lib/aijia-keys",
        "PrivateTmp=yes",
        "EnvironmentFile=/etc/aijia/aijia.env",
        "Environment=AIJIA_DATA_DIR=/var/lib/aijia",
    ):
        assert line in text.splitlines(), f"{unit}: no {line}"
    (exec_start,) = re.findall(r"^ExecStart=(.+)$", text, re.M)
    program, *args = exec_start.split()
    assert program == "/opt/aijia/venv/bin/aijia"
    helped = subprocess.run([aijia_command(), *args, "--help"], capture_output=True)
    assert helped.returncode == 0, f"{unit}: `aijia {' '.join(args)}` is not a command"

    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed here; the unit was checked statically")
    # the same unit with ExecStart pointing at this venv's aijia, which exists here
    copy = tmp_path / unit
    copy.write_text(text.replace(program, aijia_command()))
    done = subprocess.run([verify, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on a misspelt value and only warns: any line about the unit fails
    problems = [line for line in done.stderr.splitlines() if unit in line]
    assert done.returncode == 0 and not problems, done.stderr


def test_the_env_example_names_every_secret_the_template_config_reads() -> None:
    names = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (DEPLOY / "aijia.env.example").read_text(), re.M)
    )
    template = (PROJECT_ROOT / "agent" / "project_template" / "config.yaml").read_text()
    settings = "\n".join(line.split("#")[0] for line in template.splitlines())  # not comments
    wanted = set(re.findall(r"\$env:\s*([A-Z][A-Z0-9_]+)", settings))
    assert wanted and wanted <= names, wanted - names


# --------------------------------------------------------------------------- docker-compose.yml

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
COMPOSE_DIR = DEPLOY / "compose"


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_services_run_commands_that_exist() -> None:
    """Every service of our image runs a real `aijia` subcommand (or Playwright's browser
    server, which the wheel's playwright ships); the others use pinned images."""
    services = compose()["services"]
    assert {"postgres", "temporal", "objects", "browsers", "worker", "console"} <= set(services)
    for name, service in services.items():
        if service.get("image") != "aijia:local":
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
            continue
        words = service["command"]
        if words[0] == "aijia":
            helped = subprocess.run(
                [aijia_command(), words[1], "--help"], capture_output=True, text=True, timeout=60
            )
            assert helped.returncode == 0, f"{name}: {helped.stderr}"
            for flag in (w for w in words if w.startswith("--")):
                assert flag in helped.stdout, f"{name} uses {flag}, unknown to aijia {words[1]}"
        else:
            assert words[:4] == ["python", "-m", "playwright", "launch-server"], name
            helped = subprocess.run(
                [sys.executable, "-m", "playwright", "launch-server", "--help"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert helped.returncode == 0 and "--config" in helped.stdout, helped.stderr


def test_compose_mounts_files_that_exist_and_the_config_is_the_scale_layout() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).is_file(), f"{name} mounts {source}: missing"
    settings = load_config(COMPOSE_DIR / "config.yaml")
    assert settings.runs.backend == "temporal"
    assert settings.runs.temporal.address == "temporal:7233"
    assert settings.evidence.database and "@postgres:5432/" in settings.evidence.database
    blobs = settings.evidence.blobs
    assert blobs.kind == "s3" and blobs.endpoint_url == "http://objects:9000"
    assert blobs.object_lock is not None
    assert settings.evidence.signing.root_log_in_bucket  # several workers share one root log
    assert blobs.bucket and blobs.bucket in " ".join(services["objects-bucket"]["command"])
    assert "--with-lock" in " ".join(services["objects-bucket"]["command"])
    server = json.loads((COMPOSE_DIR / "browser-server.json").read_text())
    assert settings.browser.remote is not None
    assert settings.browser.remote.ws_endpoint == (
        f"ws://browsers:{server['port']}{server['wsPath']}"
    )
    assert server["executablePath"] == "/usr/bin/chromium"
    assert set(server["args"]) >= {"--disable-background-networking", "--disable-sync"}
    assert "worker" in services and services["console"]["ports"] == ["8750:8750"]


def test_compose_env_example_names_every_variable_used() -> None:
    names = set(
        re.findall(r"^([A-Z][A-Z0-9_]+)=", (COMPOSE_DIR / "aijia.env.example").read_text(), re.M)
    )
    config = (COMPOSE_DIR / "config.yaml").read_text()
    settings = "\n".join(line.split("#")[0] for line in config.splitlines())
    wanted = set(re.findall(r"\$env:\s*([A-Z][A-Z0-9_]+)", settings))
    wanted |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", COMPOSE.read_text()))
    assert "PGPASSWORD" in wanted and wanted <= names, wanted - names
    ignored = (PROJECT_ROOT / ".gitignore").read_text().split()
    assert "deploy/compose/aijia.env" in ignored


# --------------------------------------------------------------------------- the data dir


@pytest.fixture
def outside_any_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's home and a working directory with no config.yaml, and Aijia installed as a
    wheel would be (no config.yaml next to the package, which a source checkout has)."""
    home = tmp_path / "home"
    work = tmp_path / "somewhere"
    work.mkdir(parents=True)
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("AIJIA_CONFIG", raising=False)
    monkeypatch.delenv("AIJIA_DATA_DIR", raising=False)
    monkeypatch.chdir(work)
    monkeypatch.setattr(settings_module, "PROJECT_ROOT", tmp_path / "site-packages")
    return home


def test_outside_a_project_data_goes_to_the_xdg_data_dir(
    outside_any_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = outside_any_project
    settings = load_config()
    assert settings.source is None
    assert settings.data_dir == home / ".local" / "share" / "aijia"

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = load_config()
    assert settings.data_dir == tmp_path / "xdg" / "aijia"
    assert "no config.yaml found" in settings.data_dir_origin

    from evidence.store import EvidenceStore

    with EvidenceStore.open(settings) as store:  # the store really lands there
        assert store.root == tmp_path / "xdg" / "aijia" / "evidence"
    assert (tmp_path / "xdg" / "aijia").stat().st_mode & 0o777 == 0o700
    assert not (Path.cwd() / "var").exists()

    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # not absolute: ignored, as XDG says
    assert load_config().data_dir == home / ".local" / "share" / "aijia"

    from agent.doctor import run_checks

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    (data,) = [c for c in run_checks() if c.name == "data dir"]
    assert data.detail.startswith(str(tmp_path / "xdg" / "aijia"))
    assert "why: no config.yaml found" in data.detail


def test_inside_a_project_data_stays_in_it_and_doctor_says_why(
    outside_any_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "team"
    project.mkdir()
    (project / "config.yaml").write_text("log_level: info\n")
    monkeypatch.chdir(project)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = load_config()
    assert settings.data_dir == project / "var"
    assert "the project's var/" in settings.data_dir_origin

    (project / "config.yaml").write_text("data_dir: /srv/aijia-data\n")
    settings = load_config()
    assert settings.data_dir == Path("/srv/aijia-data")
    assert settings.data_dir_origin == f"data_dir in {project / 'config.yaml'}"

    monkeypatch.setenv("AIJIA_DATA_DIR", str(tmp_path / "volume"))
    settings = load_config()
    assert (settings.data_dir, settings.data_dir_origin) == (tmp_path / "volume", "$AIJIA_DATA_DIR")

    monkeypatch.delenv("AIJIA_DATA_DIR")
    doctor = subprocess.run(  # the CLI as a user runs it, from the project folder
        [aijia_command(), "doctor", "--json"],
        cwd=project,
        env={**os.environ, "HOME": str(outside_any_project)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    (data,) = [c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "data dir"]
    assert data["detail"].startswith("/srv/aijia-data")
    assert f"why: data_dir in {project / 'config.yaml'}" in data["detail"]
