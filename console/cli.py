"""``flare-console``: one entry point, a sub-command per part."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence


def _provision(args: argparse.Namespace) -> int:
    from console.provision.kits import provision
    from console.provision.project import ProjectFileError

    try:
        prod_dir = provision(args.project_file, args.output,
                             lambda warning: print(f"flare-console provision: warning: {warning}", file=sys.stderr))
    except ProjectFileError as exc:
        print(f"flare-console provision: {exc}", file=sys.stderr)
        return 2
    print(prod_dir)
    return 0


def _server(args: argparse.Namespace) -> int:
    from console.process import tune_allocator
    from console.runtime.adoption import SWEEPER
    from console.server.app import serve
    from console.server.authz import PolicyError
    from console.server.store import StoreLocked
    from console.wire.kit import KitError

    tune_allocator()
    SWEEPER.enable()  # this process is the daemon: what its jobs leave behind comes to it
    try:
        restart = asyncio.run(serve(args.kit_dir))
    except (KitError, StoreLocked, PolicyError) as exc:
        print(f"flare-console server: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        from console.local_paths import is_local_path_error, path_problem

        said = path_problem(exc) if is_local_path_error(exc) else (exc.strerror or str(exc)).lower()
        print(f"flare-console server: cannot start: {said}", file=sys.stderr)
        return 1
    if restart:
        _reexec("server", args.kit_dir)
    return 0


def _reexec(part: str, kit_dir: str) -> None:
    """A restart: the same part, a fresh process image, same pid (so supervisors keep track)."""
    import os

    os.execv(sys.executable, [sys.executable, "-m", "console", part, kit_dir])


def _site(args: argparse.Namespace) -> int:
    from console.process import tune_allocator
    from console.runtime.adoption import SWEEPER
    from console.server.authz import PolicyError
    from console.site.app import run_site
    from console.wire.kit import KitError

    tune_allocator()
    SWEEPER.enable()  # this process is the daemon: what its jobs leave behind comes to it
    try:
        restart = asyncio.run(run_site(args.kit_dir))
    except (KitError, PolicyError) as exc:
        print(f"flare-console site: {exc}", file=sys.stderr)
        return 2
    if restart:
        _reexec("site", args.kit_dir)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from console.demo import run_demo

    if args.force and not args.stop:
        print("flare-console demo: --force goes with --stop", file=sys.stderr)
        return 2
    from console.local_paths import is_local_path_error, path_problem

    try:
        return run_demo(args.workspace, args.engine, reset=args.reset, stop=args.stop, force=args.force)
    except OSError as exc:  # the workspace (or a file in it) cannot be used: what the demo started is stopped by now
        if not is_local_path_error(exc):
            raise
        print(f"flare-console demo: {path_problem(exc, todo='give --workspace a folder you can write to')}",
              file=sys.stderr)
        return 2


def version_text() -> str:
    """What ``--version`` prints: this package's version, then NVIDIA FLARE's when the ``[nvflare]`` extra is
    installed beside it (read from the installed distributions: importing nvflare takes seconds)."""
    from importlib import metadata

    import console

    try:
        ours = metadata.version("flare-console")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        ours = console.__version__
    lines = [f"flare-console {ours}"]
    try:
        lines.append(f"NVIDIA FLARE {metadata.version('nvflare')}")
    except metadata.PackageNotFoundError:
        pass
    return "\n".join(lines)


class _Version(argparse.Action):
    """``--version``: computed only when asked for (argparse's own takes a string made up front)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version (and NVIDIA FLARE's, when installed) and leave")

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from console.shell.arguments import add_shell_arguments

    parser = argparse.ArgumentParser(
        prog="flare-console",
        description="Admin side of a secure federated-learning system. Without a sub-command: "
        "log in with an admin kit and open the console (or run a batch with -c/-f/piped stdin).",
    )
    parser.add_argument("--version", action=_Version)
    add_shell_arguments(parser)
    sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")

    p = sub.add_parser("provision", help="turn a project file into startup kits")
    p.add_argument("project_file", help="project file (YAML or JSON)")
    p.add_argument("-o", "--output", default="workspace", help="workspace folder (default: ./workspace)")
    p.set_defaults(func=_provision)

    p = sub.add_parser("server", help="run the FL server from its startup kit, until SIGINT/SIGTERM")
    p.add_argument("kit_dir", help="the server's participant folder (the one holding startup/)")
    p.set_defaults(func=_server)

    p = sub.add_parser("site", help="run a site from its startup kit, until SIGINT/SIGTERM")
    p.add_argument("kit_dir", help="the site's participant folder (the one holding startup/)")
    p.set_defaults(func=_site)

    p = sub.add_parser(
        "demo", help="a local server and two sites, and the console on them",
        description="Start a local federation (a server and sites site-1 and site-2 as child processes on "
        "loopback), open the console on it as admin@example.com, and stop it all when the console ends. "
        "Ours is provisioned once into ~/.local/share/flare-console/demo (or --workspace) on two free ports "
        "chosen then and kept; jobs and kits are reused by later runs. One demo per workspace: a second one "
        "says where the running one is.")
    p.add_argument("--engine", choices=("ours", "nvflare"), default="ours",
                   help="ours (default), or an NVIDIA FLARE POC (needs the [nvflare] extra: pip install -e '.[nvflare]' "
                   "in the clone, with its .venv's pip)")
    p.add_argument("--workspace", default=None,
                   help="where the demo lives (default: ours in the user data dir, reused; nvflare in a "
                   "temporary folder, removed on exit)")
    p.add_argument("--reset", action="store_true",
                   help="ours: forget the demo's project (kits, jobs, ports) and provision it afresh on free ports")
    p.add_argument("--stop", action="store_true",
                   help="stop a demo's server and sites left running (its console was killed) and leave; refused "
                   "while the demo's console is open (leave it with bye), unless --force. nvflare: with "
                   "--workspace DIR")
    p.add_argument("--force", action="store_true",
                   help="with --stop: stop them even though the demo's console is open (it loses its server)")
    p.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.subcommand is None:
        from console.shell.main import run_shell

        return run_shell(args)
    return int(args.func(args))


def run() -> int:
    """The ``flare-console`` program: ``main``, then the process ends without waiting for library threads
    (``console.quick_exit``)."""
    from console.quick_exit import end
    from console.shell.closed_pipe import EXIT_CLOSED, silence

    try:
        code = main()
    except BrokenPipeError:  # what a sub-command printed met a closed pipe (| head): quiet, as git
        silence(sys.stdout)
        code = EXIT_CLOSED
    return end(code)


if __name__ == "__main__":
    raise SystemExit(run())
