"""docs/security.md's tables are the code's: the right each command needs comes from the command
registry (``console/commands/catalog.py``) and the default policy from the one provisioning writes
(``console/provision/policy.py``), so the document cannot drift from what the server enforces.

After changing either, regenerate the tables with ``python tests/test_security_doc.py``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from console.commands import CATALOG, Engine, Right, Where
from console.server.authz import ROLES, Policy
from console.wire.gate import ConnectionLimits

DOC = Path(__file__).resolve().parent.parent / "docs" / "security.md"
_SCOPES = {"any": "any", "none": "-", "n:submitter": "own jobs", "o:submitter": "own org's jobs",
           "o:site": "own org's sites"}


def commands_table() -> str:
    """Every command the server or the console runs, with the right it needs (registry order)."""
    lines = ["| command | right | runs | asks to confirm | engines |", "|---|---|---|---|---|"]
    for spec in CATALOG.values():
        if spec.right is None:
            continue
        runs = {Where.SERVER: "server", Where.CLIENT: "console, over the commands above"}[spec.where]
        engines = ", ".join(e.value for e in Engine if spec.supports(e))
        lines.append(f"| `{spec.name}` | `{spec.right.value}` | {runs} | {'yes' if spec.destructive else ''} "
                     f"| {engines} |")
    shell_only = ", ".join(f"`{spec.name}`" for spec in CATALOG.values() if spec.right is None)
    lines += ["", f"The console's own commands have no right of their own: {shell_only}. A request one of them "
                  "sends (`refresh`, `watch`) is a command above, checked by its right."]
    return "\n".join(lines)


def policy_table() -> str:
    """The default ``local/authorization.json`` as a role x right matrix."""
    policy = Policy.load_default()
    rights = list(Right)
    lines = ["| role | " + " | ".join(f"`{r.value}`" for r in rights) + " |", "|---" * (len(rights) + 1) + "|"]
    for role in ROLES:
        lines.append(f"| {role} | " + " | ".join(_SCOPES[policy.condition(role, r)] for r in rights) + " |")
    return "\n".join(lines)


TABLES = {"commands": commands_table, "policy": policy_table}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- generated: {name} .*?-->\n)(.*?)(<!-- end generated: {name} -->)", re.S)


def regenerate(text: str) -> str:
    for name, render in TABLES.items():
        text, found = _block(name).subn(lambda m, r=render: m.group(1) + r() + "\n" + m.group(3), text)
        assert found == 1, f"docs/security.md needs exactly one generated block '{name}'"
    return text


def test_the_security_documents_tables_are_the_registrys_and_the_default_policys() -> None:
    text = DOC.read_text()
    assert regenerate(text) == text, "docs/security.md is out of date: run python tests/test_security_doc.py"


def test_every_right_a_command_names_is_a_policy_right_and_every_right_is_documented() -> None:
    used = {spec.right for spec in CATALOG.values() if spec.right is not None}
    assert used <= set(Right)
    assert set(Right) - used == {Right.BYOC}  # byoc is checked on a job's code, never named by a command
    text = DOC.read_text()
    assert all(f"`{r.value}`" in text for r in Right)


def test_the_connection_limits_it_links_to_are_the_codes_defaults() -> None:
    # security.md points at protocol.md's table for connection_limits rather than repeating it.
    protocol = (DOC.parent / "protocol.md").read_text()
    section = protocol.split("## Connection limits", 1)[1].split("\n## ", 1)[0]
    documented = {name: float(value) for name, value in re.findall(r"^\| `(\w+)` \| ([0-9.]+) \|", section, re.M)}
    defaults = ConnectionLimits()
    assert documented == {f: float(getattr(defaults, f)) for f in ConnectionLimits.__dataclass_fields__}


def test_every_test_the_document_cites_exists() -> None:
    # `tests/FILE::TEST`, `FILE::TEST`, or `::TEST` for another test of the file named before it.
    tests = DOC.parent.parent / "tests"
    current = ""
    missing = []
    for file, name in re.findall(r"`(?:tests/)?(test_\w+\.py)?(?:::(test_\w+))?`", DOC.read_text()):
        current = file or current
        if not (file or name):
            continue
        source = (tests / current).read_text() if (tests / current).is_file() else ""
        if not source or (name and not re.search(rf"^(?:async )?def {name}\(", source, re.M)):
            missing.append(f"{current}::{name}")
    assert missing == []


if __name__ == "__main__":
    DOC.write_text(regenerate(DOC.read_text()))
    sys.exit(0)
