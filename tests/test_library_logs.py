"""A library's log records reach the console's log file, never the terminal (console.shell.library_logs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.shell.library_logs import LOG_NAME

# What NVIDIA FLARE's cellnet logged onto the prompt's line with 20 monitors running, from its logger.
SCRIPT = """
import argparse, logging
from console.shell.arguments import add_shell_arguments
from console.shell.main import run_shell
parser = argparse.ArgumentParser()
add_shell_arguments(parser)
run_shell(parser.parse_args(["--kit", "/nonexistent/kit", "-c", "list_jobs"]))  # the console's own set-up
logging.getLogger("nvflare.fuel.f3.cellnet.cell").warning("Receiving unknown req_id='732921f6', discarded")
logging.getLogger("console.backends.nvflare").info("the poll logged in again")
logging.getLogger("nvflare.fuel").info("chatter below WARNING")
"""


@pytest.mark.timeout(60)
def test_a_librarys_warning_goes_to_the_log_file_not_the_terminal(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=50,
                          stdin=subprocess.DEVNULL, check=True)
    assert done.stdout == "" and done.stderr.count("\n") == 1 and "/nonexistent/kit" in done.stderr  # its own line
    logged = (tmp_path / "flare-console" / LOG_NAME).read_text()
    assert "WARNING nvflare.fuel.f3.cellnet.cell: Receiving unknown req_id='732921f6', discarded" in logged
    assert "INFO console.backends.nvflare: the poll logged in again" in logged
    assert "chatter below WARNING" not in logged


@pytest.mark.timeout(60)
def test_a_log_file_that_cannot_be_written_drops_the_records_quietly(tmp_path: Path) -> None:
    (tmp_path / "flare-console").write_text("a file where the folder would be")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=50,
                          stdin=subprocess.DEVNULL, check=True)
    assert done.stdout == "" and "req_id" not in done.stderr
