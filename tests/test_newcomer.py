"""What a newcomer meets first: ``--version``, the README's commands as written, the kits' scripts, and
the hints the console prints naming the executable that really runs."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import console

REPO = Path(__file__).resolve().parent.parent


def _console(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=cwd)


@pytest.mark.timeout(120)
def test_version_names_the_package_and_flare_only_when_the_extra_is_installed(tmp_path: Path) -> None:
    plain = _console("--version")
    assert plain.returncode == 0 and plain.stdout == f"flare-console {console.__version__}\n", plain
    # The extra is a distribution beside ours: its metadata is what --version reads, not an import of nvflare.
    dist = tmp_path / "nvflare-2.9.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nvflare\nVersion: 2.9.0\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    with_flare = _console("--version", env=env)
    assert with_flare.stdout.splitlines() == [f"flare-console {console.__version__}", "NVIDIA FLARE 2.9.0"], with_flare


@pytest.mark.timeout(120)
def test_hints_name_the_console_that_runs_and_work_as_printed(monkeypatch) -> None:
    """``make install`` leaves flare-console in .venv/bin, off PATH: a hint says its path then, and the bare
    name only when PATH's flare-console is this one."""
    from console.invocation import console_command

    venv_bin = Path(sys.executable).parent
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    off_path = console_command()
    assert off_path == shlex.quote(str(venv_bin / "flare-console"))
    done = subprocess.run(f"{off_path} --version", shell=True, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("flare-console "), done
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}/usr/bin:/bin")
    assert console_command() == "flare-console"


def test_a_hint_that_logs_in_again_carries_the_kit_and_user(monkeypatch, tmp_path: Path) -> None:
    """Terminal tester's finding: the ``follow J | less`` hint said ``flare-console -c ...``, no ``--kit``:
    under ``make demo`` (kit in a workspace, off PATH) it could not run as printed. The kit is made
    absolute (it may be relative, or from $FLARE_KIT), the user kept, both quoted for a shell."""
    from console.invocation import console_command, console_login_command

    monkeypatch.chdir(tmp_path)
    kit = tmp_path / "my kits" / "admin@nvidia.com"
    assert console_login_command("my kits/admin@nvidia.com") == f"{console_command()} --kit {shlex.quote(str(kit))}"
    assert console_login_command(str(kit), "o'neil@org.com") == (
        f"{console_command()} --kit {shlex.quote(str(kit))} --user {shlex.quote(chr(111) + chr(39) + 'neil@org.com')}")
    assert shlex.split(console_login_command(str(kit), "o'neil@org.com"))[-4:] == [
        "--kit", str(kit), "--user", "o'neil@org.com"]
    assert console_login_command(None) == console_command()


# -- the README's commands, as a newcomer types them -------------------------------------------------

README = REPO / "README.md"
#: Placeholders the README's commands use, and what a reader puts there.
FLARE_KIT = "/path/to/prod_00/admin@nvidia.com"


def _blocks(lang: str) -> list[str]:
    return [body for tag, body in re.findall(r"```(\w*)\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
            if tag == lang]


def _readme_commands() -> list[list[str]]:
    """Each command line of the README's shell blocks (and its untagged first one) as words, comments gone."""
    lines = []
    for body in _blocks("sh") + _blocks(""):
        for line in body.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                lines.append(words)
    return lines


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(encoding="utf-8"), re.M))


@pytest.mark.timeout(180)
def test_every_readme_command_runs_as_written_or_names_what_exists(tmp_path: Path) -> None:
    """The README's shell commands, each checked as far as it can run here: make targets exist, the venv
    it names has flare-console and pip (PATH after `source .venv/bin/activate`), the [nvflare] extra it
    installs is declared, every flare-console line parses (its -c commands by the shell's grammar),
    `provision` runs on the README's project file and prints the folder the next lines use, and those
    kits, the Python example's kit and the job folder it submits exist."""
    from console.cli import build_parser
    from console.jobdef.validate import validate_job_folder
    from console.shell.parse import parse_command

    commands = _readme_commands()
    project = yaml.safe_load(_blocks("yaml")[0])
    (tmp_path / "project.yml").write_text(_blocks("yaml")[0], encoding="utf-8")
    venv_bin = Path(sys.executable).parent
    # As after `source .venv/bin/activate`: the venv's bin first on PATH.
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    prod = tmp_path / "workspace" / project["name"] / "prod_00"
    admin_kit = prod / "admin@example.com"
    seen: set[str] = set()
    for words in commands:
        program, args = words[0], words[1:]
        seen.add(program)
        if program == "make":
            assert set(args) <= _makefile_targets(), words
        elif program == "source":
            assert args == [".venv/bin/activate"], words
            assert re.search(r"^VENV \?= \.venv$", (REPO / "Makefile").read_text(encoding="utf-8"), re.M)
            assert (venv_bin / "activate").is_file() and (venv_bin / "flare-console").is_file()
        elif program == ".venv/bin/pip":
            assert (venv_bin / "pip").is_file(), "the venv make install creates has pip"
            extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
                "optional-dependencies"]
            assert args[:2] == ["install", "-e"] and args[2] == ".[nvflare]" and "nvflare" in extras, words
        elif program == "flare-console":
            args = [a.replace("<project>", project["name"]) for a in args]
            args = [str(admin_kit) if a == "..." else a for a in args]
            if args == ["--version"]:
                done = subprocess.run(["flare-console", *args], env=env, capture_output=True, text=True, timeout=60)
                assert done.returncode == 0 and done.stdout.startswith("flare-console "), done
                continue
            parsed = build_parser().parse_args(args)  # argparse exits (fails the test) on a bad flag
            for line in parsed.commands or []:
                parse_command(line)  # raises UsageError on a grammar the shell refuses
            if args[:1] == ["provision"]:
                done = subprocess.run(["flare-console", *args], cwd=tmp_path, env=env, capture_output=True,
                                      text=True, timeout=120)
                assert done.returncode == 0 and done.stdout.strip() == "workspace/example_project/prod_00", done
            elif args[:1] in (["server"], ["site"]):
                assert (tmp_path / args[1] / "startup").is_dir(), words
            elif parsed.kit and parsed.kit != FLARE_KIT:
                assert (tmp_path / parsed.kit / "startup" / "fed_admin.json").is_file(), words
            for line in parsed.commands or []:
                if line.startswith("submit_job "):
                    validate_job_folder(REPO / line.split()[1])
        else:
            raise AssertionError(f"a README command this test does not know how to check: {words}")
    assert {"make", "source", "flare-console", ".venv/bin/pip"} <= seen
    python_example = _blocks("python")[0]
    kit = re.search(r'new_secure_session\("admin@example.com", "([^"]+)"\)', python_example)[1]
    assert (tmp_path / kit / "startup" / "fed_admin.json").is_file()
    validate_job_folder(REPO / re.search(r'submit_job\("([^"]+)"\)', python_example)[1])
