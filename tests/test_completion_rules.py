"""Completion's rules for every command alike: which jobs a job-ID argument offers (the registry's
``Param.jobs``) and what Tab leaves after a unique match (a blank, as bash's readline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from console.commands import CATALOG, ParamKind
from console.commands.spec import JobStates
from console.shell.completion import ShellCompleter
from console.shell.completion_data import CompletionData
from console.shell.keys import tab_complete

#: Every command taking a job ID, with the jobs (by status) it acts on on both engines (FLARE 2.9's job_cmds
#: and info_coll_cmd, our server's handlers): a command added to the registry must be placed here.
JOB_STATES = {
    "abort_job": JobStates.NOT_ENDED,  # a FINISHED:* job has nothing to abort ("is already completed")
    "delete_job": JobStates.NOT_RUNNING,  # "is running, could not be deleted at this time"
    "show_stats": JobStates.RUNNING,  # "job ... is not running": a running job's live parts only
    "show_errors": JobStates.RUNNING,
    "reset_errors": JobStates.RUNNING,
    "app_command": JobStates.RUNNING,
    "configure_job_log": JobStates.RUNNING,
    "get_job_meta": JobStates.ANY,
    "clone_job": JobStates.ANY,
    "download_job": JobStates.ANY,
    "get_job_logs": JobStates.ANY,
    "list_job_components": JobStates.ANY,
    "download_job_components": JobStates.ANY,
    "monitor_job": JobStates.ANY,  # an ended job: its final status at once
    "follow": JobStates.ANY,  # its last lines
    "plot": JobStates.ANY,  # its chart
}

STATUSES = ["SUBMITTED", "DISPATCHED", "RUNNING", "FINISHED:COMPLETED", "FINISHED:ABORTED",
            "FINISHED:EXECUTION_EXCEPTION", "FINISHED:ABNORMAL", "FINISHED:CAN_NOT_SCHEDULE",
            "FINISHED:FAILED_TO_RUN", "FINISHED:ABANDONED"]


def test_every_job_taking_command_states_the_jobs_it_takes() -> None:
    """The twelfth user's item 1, as a kind: the registry says per argument which jobs it takes."""
    taking = {spec.name: p.jobs for spec in CATALOG.values() for p in spec.params if p.kind is ParamKind.JOB_ID}
    assert taking == JOB_STATES


def _data() -> CompletionData:
    return CompletionData.from_rows([{"job_id": f"{i:02x}000000-0000-4000-8000-{i:012x}", "job_name": status.lower(),
                                      "status": status, "submit_time": 1000 + i} for i, status in enumerate(STATUSES)])


@pytest.mark.parametrize("command", sorted(JOB_STATES))
def test_a_job_id_completes_to_the_jobs_its_command_takes(command: str) -> None:
    """abort_job <Tab> offered ended jobs; each job-taking command offers the statuses it takes, no other
    (on an engine that offers it: FLARE's own commands on FLARE)."""
    data = _data()
    completer = ShellCompleter(lambda: data, engine=min(CATALOG[command].engines))
    line = f"{command} "
    found = completer.get_completions(Document(line, len(line)), CompleteEvent(completion_requested=True))
    offered = {data.jobs[c.text].status for c in found if c.text in data.jobs}
    assert offered == {s for s in STATUSES if JOB_STATES[command].takes(s)}, command


def _tab(line: str, data: CompletionData) -> str:
    buffer = Buffer(completer=ShellCompleter(lambda: data, lambda: ["dark", "light"]))
    buffer.text = line
    buffer.cursor_position = len(line)
    tab_complete(buffer)
    return buffer.text


def test_a_unique_match_gets_a_blank_after_it_for_every_command(tmp_path: Path, monkeypatch) -> None:
    """The twelfth user's item 2: monitor_job's unique job ID had no blank after it. One rule: a word a
    unique completion finished gets one, as bash's readline does; a folder's '/' does not (Tab goes on
    inside it), nor a word a blank already follows; several matches insert only what they share."""
    data = _data()
    running = next(j for j, e in data.jobs.items() if e.status == "RUNNING")
    for command in ("monitor_job", "abort_job", "get_job_meta", "show_stats", "follow", "plot"):
        assert _tab(f"{command} {running[:2]}", data) == f"{command} {running} ", command
    ended = next(j for j, e in data.jobs.items() if e.status == "FINISHED:COMPLETED")
    assert _tab(f"delete_job {ended[:2]}", data) == f"delete_job {ended} "
    data.sites = ["site-1", "site-2"]
    assert _tab("list_j", data) == "list_jobs "
    assert _tab("check_status ser", data) == "check_status server "
    assert _tab("show_stats 02 cl", data) == "show_stats 02 client "
    assert _tab("remove_client site-2", data) == "remove_client site-2 "
    assert _tab("list_jobs --sub", data) == "list_jobs --submit-token "
    assert _tab("set form", data) == "set format "
    assert _tab("set format js", data) == "set format json "
    assert _tab("theme li", data) == "theme light "
    assert _tab("check_status client site-", data) == "check_status client site-"  # two: their common part
    (tmp_path / "jobs" / "hello").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert _tab("submit_job jo", data) == "submit_job jobs/"  # a folder: no blank, the next Tab goes inside
    buffer = Buffer(completer=ShellCompleter(lambda: data))
    buffer.document = Document("list_j -m 5", len("list_j"))  # a blank follows already: none added
    tab_complete(buffer)
    assert buffer.text == "list_jobs -m 5"
