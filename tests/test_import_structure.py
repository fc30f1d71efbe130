"""How the package's modules depend on one another: no import cycle, and the server's parts
depend on the small interfaces of ``console.server.interfaces``, which the real ``Server``
satisfies, never on the ``Server`` itself."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from pathlib import Path

import console
from console.server import interfaces
from console.server.app import Server
from console.server.sites import ConnectedSite
from console.wire.kit import ServerKit
from console.wire.requesting import Requester

from conftest import Project

PACKAGE = Path(console.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _known(name: str) -> str | None:
    """The module ``name`` is in (``console.server.store.JobStore`` -> ``console.server.store``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, typing_too: bool) -> set[str]:
    """The console modules ``module`` imports, at module level or inside functions; those under
    ``if TYPE_CHECKING:`` only with ``typing_too``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test) and not typing_too:
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(_known(alias.name) or "" for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*up, base] if base else up)
                for alias in child.names:  # `from console.server import store` names a module
                    found.add(_known(f"{base}.{alias.name}") or "")
            visit(child)

    visit(ast.parse(path.read_text()))
    return {name for name in found if name.startswith("console") and name != module}


def _cycles(typing_too: bool) -> list[list[str]]:
    """Groups of modules that import one another (Tarjan's strongly connected components)."""
    graph = {module: _imports(module, typing_too) for module in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def strong(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                strong(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while (top := stack.pop()) != module:
                group.append(top)
            if group:
                groups.append(sorted([module, *group]))

    for module in sorted(graph):
        if module not in index:
            strong(module)
    return groups


def test_no_module_imports_one_that_imports_it_back() -> None:
    # Imports inside functions count: they only defer a cycle to the first call. Those for type
    # hints only count too: a part that names its user's type depends on the whole of it.
    assert _cycles(typing_too=False) == []
    assert _cycles(typing_too=True) == []


def test_the_servers_parts_never_import_the_server() -> None:
    importers = sorted(m for m in MODULES if "console.server.app" in _imports(m, typing_too=True))
    assert importers == ["console.cli"]  # it runs the server; no part of the server needs the whole of it


#: What each part must not import, as its package docstring says: the server, the site and the
#: job processes sit below the admin client (the server's link to a site is the wire's
#: requesting end, not the admin's AsyncClient); the job processes touch no network; the wire
#: is below every part.
CLIENT_SIDE = ("console.api", "console.flare_api", "console.shell", "console.backends")
BELOW = {
    "console.server": CLIENT_SIDE,
    "console.site": CLIENT_SIDE,
    "console.runtime": (*CLIENT_SIDE, "console.server", "console.site", "console.wire"),
    "console.wire": (*CLIENT_SIDE, "console.server", "console.site", "console.runtime"),
}


def test_each_part_imports_only_what_its_docstring_allows() -> None:
    wrong = sorted((module, imported) for module in MODULES for part, banned in BELOW.items()
                   if module == part or module.startswith(f"{part}.")
                   for imported in _imports(module, typing_too=True)
                   if any(imported == b or imported.startswith(f"{b}.") for b in banned))
    assert wrong == []


def test_the_server_satisfies_the_interfaces_its_parts_depend_on(project: Project) -> None:
    async def build() -> None:
        server = Server(ServerKit.load(project.server_kit))
        try:
            for host in (interfaces.SchedulerHost, interfaces.RunnerHost, interfaces.DeploymentHost,
                         interfaces.RelayHost, interfaces.SitesHost):
                assert isinstance(server, host), host.__name__
            assert isinstance(server.sites, interfaces.Sites)
            assert isinstance(server.runner, interfaces.Jobs)
            assert isinstance(server.log_relay, interfaces.SiteLogEvents)
            assert isinstance(server.scheduler, interfaces.Wakeable)
            site = ConnectedSite("site-1", "example", Requester(peer="site-1"))
            assert isinstance(site, interfaces.SiteLink)
        finally:
            server.store.close()

    asyncio.run(build())


def test_the_server_and_site_daemons_start_without_numpy_or_the_console() -> None:
    # Every test federation starts a server and sites (~90 starts a test run, each a process
    # start): numpy is for the job processes' FedAvg work, prompt_toolkit for the console.
    code = ("import sys; from console.cli import build_parser; build_parser().parse_args(['server', 'kit']); "
            "import console.server.app, console.site.app; "
            "print(sorted(m for m in ('numpy', 'prompt_toolkit', 'console.shell.main', 'console.runtime.arrays') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
