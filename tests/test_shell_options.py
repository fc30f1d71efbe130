"""Options read as FLARE 2.9's console reads them (argparse): attached values, bundled flags,
``--opt=value``, abbreviated long options, ``--``; for every command of the registry, in the
parse, the completion and the highlighting alike."""

from __future__ import annotations

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from console.commands import CATALOG, ParamKind
from console.shell.completion import CompletionData, ShellCompleter
from console.shell.lexer import ERROR, OPTION, highlight
from console.shell.parse import UsageError, parse_command

JOB = "0a1b2c3d-0000-4000-8000-000000000001"


def texts(line: str) -> list[str]:
    data = CompletionData.from_rows([{"job_id": JOB, "job_name": "hello-numpy", "status": "RUNNING"}])
    completer = ShellCompleter(lambda: data, lambda: ["dark"], lambda: [JOB])
    return [c.text for c in completer.get_completions(Document(line, len(line)),
                                                       CompleteEvent(completion_requested=True))]


@pytest.mark.parametrize(("line", "values"), [
    ("list_jobs -m1", {"limit": 1}),
    ("list_jobs -m=1", {"limit": 1}),
    ("list_jobs -rm 1", {"reverse": True, "limit": 1}),
    ("list_jobs -rm1", {"reverse": True, "limit": 1}),
    ("list_jobs -dur", {"detailed": True, "mine": True, "reverse": True}),
    ("list_jobs -nhello -r 0a1b", {"name_prefix": "hello", "reverse": True, "id_prefix": "0a1b"}),
    ("list_jobs --submit-token=t1", {"submit_token": "t1"}),
    ("list_jobs --submit t1", {"submit_token": "t1"}),  # argparse's abbreviation
    ("list_jobs -- -0a1b", {"id_prefix": "-0a1b"}),  # after --, a value
    ("monitor_job 0a1b --timeout=5 --int=0.5", {"job_id": "0a1b", "timeout": 5.0, "interval": 0.5}),
    ("follow 0a1b site-1 -n0", {"job_id": "0a1b", "target": "site-1", "lines": 0}),
    ("get_job_logs 0a1b -n5 -gerror", {"tail_lines": 5, "grep_pattern": "error"}),
    ("plot 0a1b --format=json", {"format": "json"}),
    ("watch -n5 list_jobs -m1", {"interval": 5.0, "command": "list_jobs -m1"}),
])
def test_what_argparse_takes_is_taken(line: str, values: dict) -> None:
    parsed = parse_command(line)
    assert {k: parsed.values[k] for k in values} == values
    for word in line.split()[1:]:  # and highlighted as options, never as errors
        assert (ERROR, word) not in highlight(line, at_end=False), word


def test_every_flag_of_every_command_takes_its_value_attached() -> None:
    """The kind: each value-taking flag of the registry reads '-x1'/'--opt=1' as '-x 1'."""
    for spec in CATALOG.values():
        required = " ".join("0a1b" if p.kind is ParamKind.JOB_ID else "x" for p in spec.typed_params
                            if p.required and not p.flag and p.kind is not ParamKind.COMMAND_LINE)
        tail = " list_jobs" if any(p.kind is ParamKind.COMMAND_LINE for p in spec.typed_params) else ""
        for param in spec.typed_params:
            if not param.flag or param.kind is ParamKind.BOOL:
                continue
            value = param.choices[0] if param.choices else "7"
            glue = "=" if param.flag.startswith("--") else ""
            whole = parse_command(f"{spec.name} {required} {param.flag} {value}{tail}")
            attached = parse_command(f"{spec.name} {required} {param.flag}{glue or '='}{value}{tail}")
            assert attached.values == whole.values, (spec.name, param.flag)
            if not glue:
                assert parse_command(f"{spec.name} {required} {param.flag}{value}{tail}").values == whole.values


@pytest.mark.parametrize(("line", "said"), [
    ("list_jobs -rx", r"unknown option -x in '-rx'"),
    ("list_jobs -d=1", r"-d takes no value"),
    ("list_jobs -m=", r"-m needs a value"),
    ("list_jobs -M1", r"unknown option -M1 \(options are case-sensitive: -m\)"),
    ("list_jobs -m", r"-m needs a value"),
    ("list_jobs -mx", r"limit must be a number, not 'x'"),
    ("abort_job 0a1b --yes=1", r"--yes takes no value"),
])
def test_what_argparse_refuses_is_named(line: str, said: str) -> None:
    with pytest.raises(UsageError, match=said):
        parse_command(line)


def test_yes_bundles_and_abbreviates_on_a_destructive_command() -> None:
    assert parse_command("abort_job 0a1b -y").yes and parse_command("abort_job 0a1b --y").yes


def test_completion_reads_the_same_options() -> None:
    assert "hello-numpy" in texts("list_jobs -rn ")  # -n's value after a bundle
    assert JOB in texts("monitor_job --timeout=5 ")  # the job ID after an attached value
    assert JOB in texts("monitor_job --time 5 ")
    after = texts("list_jobs -rm1 -")
    assert "-r" not in after and "-m" not in after and "-d" in after  # used ones are not offered again
    assert texts("list_jobs -m ") == []  # -m's value: nothing to offer, not options
    assert "list_jobs" in texts("watch -n5 list_")
    assert texts("plot 0a1b --format=j") == ["json"]  # a value in the option's own word completes too
    assert texts("list_jobs -rnhel") == ["hello-numpy"]


def test_shell_commands_keep_their_own_options_whole() -> None:
    assert parse_command("ls server -la").values["options"] == "-la"
    assert parse_command("tail server -n 20 log.txt").values["options"] == "-n 20"
    assert (OPTION, "-la") in highlight("ls server -la", at_end=False)


@pytest.mark.parametrize(("line", "values"), [
    ("cat site-1 -- -n5.txt", {"file": "-n5.txt", "options": None}),
    ("cat site-1 -n -- -n5.txt", {"file": "-n5.txt", "options": "-n"}),
    ("tail site-1 -n 5 -- -f", {"file": "-f", "options": "-n 5"}),
    ("head site-1 -- -5", {"file": "-5", "options": None}),
    ("ls site-1 -- x", {"path": "x", "options": None}),
    ("ls site-1 -l -- -x", {"path": "-x", "options": "-l"}),
    ("grep site-1 -- -0.5 log.txt", {"pattern": "-0.5", "file": "log.txt", "options": None}),
    ("grep site-1 -i -- -n5 -n5.txt", {"pattern": "-n5", "file": "-n5.txt", "options": "-i"}),
])
def test_double_dash_ends_a_file_command_s_options(line: str, values: dict) -> None:
    """As coreutils and grep: after --, a FILE or PATTERN may start with '-' (fuser10 #6)."""
    parsed = parse_command(line)
    assert {k: parsed.values[k] for k in values} == values


def test_completion_after_double_dash_offers_the_file_not_options() -> None:
    from console.commands import CATALOG
    from console.shell.arg_position import param_at

    assert param_at(CATALOG["cat"], ["site-1", "--"]).name == "file"
    assert param_at(CATALOG["grep"], ["site-1", "--", "-0.5"]).name == "file"
