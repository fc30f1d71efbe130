"""How to run this very flare-console again, for the commands it prints and the scripts it writes.

Owns the spelling of the console's own command line in hints (``flare-console demo --stop``,
``flare-console --kit ...``) and in kits' ``start.sh``/``fl_admin.sh``. ``make install`` puts the
console in ``.venv/bin``, which is not on a new user's PATH: a hint that says ``flare-console`` then
fails as written. Must not start processes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

NAME = "flare-console"


def _entry_script() -> Path | None:
    """The ``flare-console`` script installed beside the running Python (a venv's bin/, or the prefix's)."""
    script = Path(sys.executable).parent / NAME
    return script if script.is_file() and os.access(script, os.X_OK) else None


def console_command() -> str:
    """The words a shell needs to run this flare-console: ``flare-console`` when that name on PATH is this
    installation, else the full path of its script (``/home/me/flare-console/.venv/bin/flare-console``),
    else ``PYTHON -m console``; quoted for a POSIX shell."""
    script = _entry_script()
    on_path = shutil.which(NAME)
    if script is not None and on_path is not None:
        try:
            if os.path.samefile(on_path, script):
                return NAME
        except OSError:
            pass
    if script is not None:
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m console"


def console_login_command(kit: str | None, user: str | None = None) -> str:
    """``console_command()`` with the ``--kit`` (made absolute: it may have come from $FLARE_KIT or the config
    file, or be relative to a folder the reader is no longer in) and ``--user`` this console logged in with,
    so a printed ``... -c 'follow J' | less`` runs as is, also under ``make demo`` whose kit is nowhere a
    plain ``flare-console`` would look."""
    words = [console_command()]
    if kit:
        words.append(f"--kit {shlex.quote(str(Path(kit).expanduser().absolute()))}")
    if user:
        words.append(f"--user {shlex.quote(user)}")
    return " ".join(words)


def kit_script(part_args: str) -> str:
    """A kit script's body after its ``DIR=`` line: run ``flare-console PART_ARGS "$@"`` with the Python that
    provisioned the kit while it and this console package are still where they were (PATH or not), else
    with ``flare-console`` from PATH (the kit was copied to another machine, the venv removed), else say
    what to install and exit 127 as a shell does for a missing command. ``part_args`` is shell text such as
    ``--kit "$DIR"``. Files are checked, not imported: a Python start would cost every console's start."""
    import console

    python = shlex.quote(sys.executable)
    package = shlex.quote(str(Path(console.__file__).resolve()))
    return (
        f"PYTHON={python}\n"
        f"CONSOLE={package}\n"
        'if [ -x "$PYTHON" ] && [ -f "$CONSOLE" ]; then\n'
        f'    exec "$PYTHON" -m console {part_args} "$@"\n'
        "fi\n"
        f"if command -v {NAME} >/dev/null 2>&1; then\n"
        f'    exec {NAME} {part_args} "$@"\n'
        "fi\n"
        f"echo \"$(basename \"$0\"): {NAME} not found: $PYTHON (which provisioned this kit) or its console package "
        f"is gone, and no {NAME} is on PATH; install flare-console (make install in its clone) and put its .venv/bin "
        "on PATH\" >&2\n"
        "exit 127\n"
    )


def source_tree() -> Path | None:
    """The clone this console runs from (an editable install or a checkout), or None for a regular install."""
    import console

    root = Path(console.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "themes").is_dir() else None


def _nvflare_requirement() -> str:
    """The ``[nvflare]`` extra's requirement as this installation declares it (pyproject.toml's, one place)."""
    from importlib import metadata

    try:
        for requirement in metadata.requires("flare-console") or []:
            spec, _, marker = requirement.partition(";")
            if spec.strip().startswith("nvflare") and "nvflare" in marker:
                return spec.strip()
    except metadata.PackageNotFoundError:
        pass
    return "nvflare>=2.9,<2.10"


def install_extra_command() -> str:
    """What installs the ``[nvflare]`` extra into the Python running now: flare-console is not on PyPI, so
    ``pip install 'flare-console[nvflare]'`` fails; from a clone it is the clone's extra, else the
    requirement the extra names."""
    pip = f"{shlex.quote(sys.executable)} -m pip install"
    tree = source_tree()
    if tree is not None:
        return f"{pip} -e {shlex.quote(f'{tree}[nvflare]')}"
    return f"{pip} {shlex.quote(_nvflare_requirement())}"
