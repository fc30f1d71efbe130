"""The console's own files under the XDG dirs are the user's alone (final security tester, session
11, finding 4): 0600 in 0700 folders under umask 022, created so and tightened when found open."""

from __future__ import annotations

import logging
import logging.handlers
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.demo_guard import claim, default_root, release
from console.shell.config import history_path, load_config
from console.shell.library_logs import send_logs_to_file
from console.shell.prompt_setup import open_history
from console.user_dirs import config_dir, data_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    before = os.umask(0o022)
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        yield tmp_path
    finally:
        os.umask(before)
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in handlers:
            root.addHandler(handler)


def test_the_console_s_files_are_created_private(homes: Path) -> None:
    config = load_config()
    config.remember("theme", "light")
    log = send_logs_to_file()
    assert log is not None
    logging.getLogger("console.test").warning("a line")
    history = open_history()
    history.append_string("list_jobs")
    for folder in (config_dir(), data_dir(), homes / "config", homes / "data"):
        assert mode(folder) == 0o700, folder
    for path in (config_dir() / "config.toml", log, history_path()):
        assert mode(path) == 0o600, path
    assert 'theme = "light"' in (config_dir() / "config.toml").read_text()
    assert "a line" in log.read_text()
    rotating = next(h for h in logging.getLogger().handlers if isinstance(h, logging.handlers.RotatingFileHandler))
    rotating.doRollover()  # the new console.log after a rollover is made private too
    assert mode(log) == 0o600 and mode(log.with_name("console.log.1")) == 0o600


def test_files_found_open_are_tightened(homes: Path) -> None:
    for folder in (config_dir(), data_dir()):
        folder.mkdir(parents=True, mode=0o755)
        os.chmod(folder, 0o755)
    opened = [config_dir() / "config.toml", data_dir() / "console.log", data_dir() / "console.log.1",
              history_path()]
    for path in opened:
        path.write_text("")
        os.chmod(path, 0o644)
    (config_dir() / "config.toml").write_text('theme = "dark"\n')
    assert load_config().theme == "dark"
    assert send_logs_to_file() is not None
    open_history()
    for folder in (config_dir(), data_dir()):
        assert mode(folder) == 0o700, folder
    for path in opened:
        assert mode(path) == 0o600, path


def test_the_demo_s_workspace_in_the_data_dir_is_private(homes: Path) -> None:
    data_dir().mkdir(parents=True)
    os.chmod(data_dir(), 0o755)
    claim(default_root())
    try:
        assert mode(data_dir()) == 0o700 and mode(default_root()) == 0o700
    finally:
        release(default_root())
