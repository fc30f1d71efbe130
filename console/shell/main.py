"""``flare-console`` without a sub-command: log in with a kit, then the shell or a batch."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from console.api.errors import AuthenticationError, InvalidArgumentError, NoConnection
from console.backends import MissingExtra, open_backend
from console.local_paths import is_local_path_error, path_problem
from console.shell.batch import EXIT_USAGE, BatchLine, lines_of, run_batch
from console.shell.cells import fill_for
from console.shell.config import load_config
from console.shell.endings import signals_end_cleanly
from console.shell.library_logs import send_logs_to_file
from console.shell.output import Format
from console.shell.safe_text import visible
from console.wire.kit import KitError


def _say(text: str) -> None:
    """An error before the shell or batch runs, on stderr: broken between words on a terminal (``fill_for``)."""
    print(fill_for(sys.stderr, text), file=sys.stderr)


def _kit_location(args: argparse.Namespace, config_kit: str) -> str | None:
    return args.kit or os.environ.get("FLARE_KIT") or config_kit or None


def _kit_source(args: argparse.Namespace, config_path: object) -> str:
    """Where ``_kit_location`` found the kit's path, as the user gave it."""
    if args.kit:
        return "--kit"
    if os.environ.get("FLARE_KIT"):
        return "$FLARE_KIT"
    return f"kit in {config_path}"


class BatchFileError(Exception):
    """The ``-f`` file cannot be read: said with its path, what is wrong and what to do."""


def _batch_lines(args: argparse.Namespace) -> list[BatchLine] | None:
    if args.commands:
        return [BatchLine("-c", i, cmd) for i, cmd in enumerate(args.commands, 1)]
    if args.file and args.file != "-":
        try:
            text = Path(args.file).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise BatchFileError(path_problem(exc, "the -f file", "give a text file of commands, one per line "
                                              "(- reads them from stdin)")) from None
        except UnicodeDecodeError as exc:
            raise BatchFileError(f"cannot use {args.file} as the -f file: it is not UTF-8 text (byte "
                                 f"{exc.start}); give a text file of commands, one per line") from None
        return lines_of(args.file, text)
    if args.file == "-" or not sys.stdin.isatty():
        return lines_of("<stdin>", sys.stdin.read())
    return None


#: Whether "connecting to ..." stands on the terminal (the line is taken away once the login is done).
connecting: list[str] = []


def _connecting(where: str) -> None:
    """A slow start of the interactive console said, as ssh -v would: its terminal is not left blank."""
    print(f"connecting to {where}...", end="", file=sys.stderr, flush=True)
    connecting.append(where)


def _connected(failed: bool = False) -> None:
    """The login is over: "connecting to ..." goes (the console's own first lines take its place), or, when
    it ``failed``, stays and the error follows on a line of its own."""
    if connecting:
        print("" if failed else "\r\x1b[K", end="\n" if failed else "", file=sys.stderr, flush=True)
        connecting.clear()


async def _main(args: argparse.Namespace) -> int:
    connecting.clear()
    config = load_config()
    for note in config.notes:  # (on stderr, before anything else: a batch's output stays its commands')
        _say(visible(f"flare-console: warning: {note}"))
    location = _kit_location(args, config.kit)
    if location is None:
        _say(f"flare-console: no admin kit: pass --kit PATH, set FLARE_KIT, or set kit in "
             f"{config.path or 'the config file'}")
        return EXIT_USAGE
    try:
        batch = _batch_lines(args)
        # A heartbeat for a person at the console; a batch keeps its commands' deadlines (a silent server
        # fails its command there, where a heartbeat's drop would set monitor_job waiting to reconnect).
        backend = await open_backend(location, args.user, timeout=args.timeout, study=getattr(args, "study", None),
                                     on_slow=_connecting if batch is None and sys.stderr.isatty() else None,
                                     heartbeat=batch is None)
    except (NoConnection, AuthenticationError) as exc:  # NoConnection is an OSError: first
        _connected(failed=True)
        _say(visible(f"flare-console: {type(exc).__name__}: {exc}"))
        return EXIT_USAGE
    except KitError as exc:  # named by where the kit's path came from (the kit's own errors name no argument)
        _connected(failed=True)
        _say(visible(f"flare-console: {_kit_source(args, config.path)}: {exc}"))
        return EXIT_USAGE
    except (MissingExtra, InvalidArgumentError, BatchFileError) as exc:
        _connected(failed=True)
        _say(visible(f"flare-console: {exc}"))
        return EXIT_USAGE
    except OSError as exc:
        _connected(failed=True)
        _say(visible(f"flare-console: {path_problem(exc) if is_local_path_error(exc) else exc}"))
        return EXIT_USAGE
    except Exception as exc:  # the engine's own refusal of the login (FLARE's InternalError for a kit it cannot use)
        _connected(failed=True)
        _say(visible(f"flare-console: cannot log in: {type(exc).__name__}: {exc}"))
        return EXIT_USAGE
    _connected()
    fmt = Format(args.format) if args.format else (config.format if batch is None else Format.TABLE)
    if batch is not None:
        try:
            return await run_batch(backend, batch, fmt=fmt, yes=args.yes, continue_on_error=args.continue_on_error)
        finally:
            await backend.close()
    from console.shell.app import InteractiveShell

    config.format = fmt
    from console.invocation import console_login_command

    again = console_login_command(location, args.user)
    return await InteractiveShell(backend, config, demo=getattr(args, "demo", False), again=again,
                                  demo_parts=getattr(args, "demo_parts", None)).run()


def run_shell(args: argparse.Namespace) -> int:
    send_logs_to_file()
    with signals_end_cleanly():  # Ctrl-\ as Ctrl-C; SIGTERM, SIGHUP: leave as bye does (SystemExit)
        try:
            return asyncio.run(_main(args))
        except KeyboardInterrupt:
            _connected(failed=True)  # Ctrl-C at "connecting to ...": the line ends, the shell's prompt is not glued to it
            return 130
