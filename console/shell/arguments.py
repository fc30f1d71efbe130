"""The interactive console's and a batch's command-line options (``flare-console [OPTIONS]``).

Owns the options only; must not import the shell itself (prompt_toolkit, the backends): every
``flare-console`` process builds this parser, the server and site daemons too (``console.cli``), and
their start should not pay for the console's imports.
"""

from __future__ import annotations

import argparse

from console.shell.formats import Format


def add_shell_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kit", help="admin startup kit, ours or NVIDIA FLARE's (default: $FLARE_KIT, then the "
                        "config's kit)")
    parser.add_argument("--user", help="log in as this user (default: the kit's user, or its certificate's name)")
    parser.add_argument("-c", "--command", action="append", dest="commands", metavar="CMD",
                        help="run CMD and leave (repeatable): a batch, no interactive UI")
    parser.add_argument("-f", "--file", help="run the commands in FILE as a batch ('-' for stdin)")
    parser.add_argument("--format", choices=[f.value for f in Format],
                        help="output format: table (for people), json (exact JSON, one document per command: indented "
                        "on a terminal, one line into a pipe or file; submit_job and clone_job give "
                        "{\"job_id\", \"message\"}), raw (the engine's answer as it came, unformatted: submit_job's "
                        "is the job ID alone)")
    parser.add_argument("--yes", action="store_true", help="batch: run destructive commands without asking")
    parser.add_argument("--continue-on-error", action="store_true",
                        help="batch: run every command, exit 1 at the end if any failed")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a server that does not answer (default 10; "
                        "one that refuses the connection fails at once)")
    parser.add_argument("--study", help="NVIDIA FLARE: work in this study (its jobs, submits into it; default: FLARE's "
                        "default study)")
