"""``help COMMAND`` says every optional argument's default, from the registry (the twelfth user's item 4:
--timeout, -m and -n said none)."""

from __future__ import annotations

import re

import pytest

from console.commands import CATALOG, CommandSpec, Engine, Param, ParamKind, Right
from console.commands.spec import check_defaults
from console.shell.help import help_text


def _optional(param: Param) -> bool:
    return not param.required and param.kind is not ParamKind.BOOL


def test_every_optional_argument_of_every_command_says_its_default_on_each_engine() -> None:
    """The whole registry, on each engine that offers the command: each optional argument but a flag
    (off unless given) has its line in help, ending in one "(default: ...)" the registry states."""
    said = 0
    for spec in CATALOG.values():
        for engine in (e for e in Engine if spec.supports(e)):
            lines = help_text(engine, spec.name, 1000).splitlines()  # (wide: one line per argument)
            for param in spec.typed_params:
                at = next(i for i, x in enumerate(lines) if x.strip().startswith(param.usage()))
                line = lines[at + 1] if lines[at].strip() == param.usage() else lines[at]  # a long name: text below
                if _optional(param):
                    assert param.default_text, (spec.name, param.name)
                    assert line.endswith(f"(default: {param.default_text})"), (spec.name, engine, line)
                    assert line.count("default") == 1, (spec.name, engine, line)  # never said twice
                    said += 1
                else:
                    assert "(default:" not in line, (spec.name, engine, line)
    assert said > 40


def test_the_tester_s_options_say_their_defaults() -> None:
    assert re.search(r"--timeout TIMEOUT\]\s+stop after this many seconds \(default: 0, never\)",
                     help_text(Engine.OURS, "monitor_job", 120))
    listing = help_text(Engine.OURS, "list_jobs", 120)
    assert re.search(r"\[-m LIMIT\]\s+only the N most recent jobs \(default: every job\)", listing)
    assert re.search(r"\[-n NAME_PREFIX\]\s+only jobs whose name starts with this \(default: any name\)", listing)
    logs = help_text(Engine.NVFLARE, "get_job_logs", 120)
    assert re.search(r"\[-n TAIL_LINES\]\s+only the last N lines \(default: the whole log\)", logs)
    assert re.search(r"\[-n INTERVAL\]\s+seconds between runs \(default: 2\)", help_text(Engine.OURS, "watch", 120))


def test_an_optional_argument_without_a_stated_default_cannot_enter_the_registry() -> None:
    """At the source: the registry is checked as it is built (a command added later included)."""
    lacking = Param("limit", ParamKind.INT, "only the N most recent jobs", flag="-m")
    with pytest.raises(ValueError, match=r"without a stated default .*: list_jobs \[-m LIMIT\]$"):
        check_defaults([CommandSpec("list_jobs", "list jobs", Right.VIEW, (lacking,))])
    check_defaults([CommandSpec("list_jobs", "list jobs", Right.VIEW, (
        Param("limit", ParamKind.INT, "only the N most recent jobs", flag="-m", unset="every job"),
        Param("detailed", ParamKind.BOOL, "full meta", flag="-d", default=False),  # a flag: off unless given
        Param("job_id", ParamKind.JOB_ID, "a job", required=True),
        Param("token", ParamKind.STR, "filled in by the client", typed=False)))])
    check_defaults(CATALOG.values())
