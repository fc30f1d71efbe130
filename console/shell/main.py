"""``flare-console`` without a sub-command: log in with a kit, then the shell or a batch."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from console.api.errors import AuthenticationError, InvalidArgumentError, NoConnection
from console.backends import MissingExtra, open_backend
from console.shell.batch import EXIT_USAGE, BatchLine, lines_of, run_batch
from console.shell.config import ConfigError, load_config
from console.shell.endings import signals_end_cleanly
from console.shell.library_logs import send_logs_to_file
from console.shell.output import Format
from console.shell.safe_text import visible
from console.wire.kit import KitError


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
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server (default 10)")


def _kit_location(args: argparse.Namespace, config_kit: str) -> str | None:
    return args.kit or os.environ.get("FLARE_KIT") or config_kit or None


def _batch_lines(args: argparse.Namespace) -> list[BatchLine] | None:
    if args.commands:
        return [BatchLine("-c", i, cmd) for i, cmd in enumerate(args.commands, 1)]
    if args.file and args.file != "-":
        return lines_of(args.file, Path(args.file).read_text().splitlines())
    if args.file == "-" or not sys.stdin.isatty():
        return lines_of("<stdin>", sys.stdin)
    return None


async def _main(args: argparse.Namespace) -> int:
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"flare-console: {exc}", file=sys.stderr)
        return EXIT_USAGE
    location = _kit_location(args, config.kit)
    if location is None:
        print("flare-console: no admin kit: pass --kit PATH, set FLARE_KIT, or set kit in "
              f"{config.path or 'the config file'}", file=sys.stderr)
        return EXIT_USAGE
    try:
        batch = _batch_lines(args)
        backend = await open_backend(location, args.user, timeout=args.timeout)
    except (NoConnection, AuthenticationError) as exc:  # NoConnection is an OSError: first
        print(visible(f"flare-console: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except (KitError, MissingExtra, InvalidArgumentError, OSError) as exc:
        print(visible(f"flare-console: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    fmt = Format(args.format) if args.format else (config.format if batch is None else Format.TABLE)
    if batch is not None:
        try:
            return await run_batch(backend, batch, fmt=fmt, yes=args.yes, continue_on_error=args.continue_on_error)
        finally:
            await backend.close()
    from console.shell.app import InteractiveShell

    config.format = fmt
    return await InteractiveShell(backend, config, demo=getattr(args, "demo", False)).run()


def run_shell(args: argparse.Namespace) -> int:
    send_logs_to_file()
    with signals_end_cleanly():  # Ctrl-\ as Ctrl-C; SIGTERM, SIGHUP: leave as bye does (SystemExit)
        try:
            return asyncio.run(_main(args))
        except KeyboardInterrupt:
            return 130
