"""``console.flare_api`` as FLARE 2.9's flare_api, name for name, on our engine: every name FLARE's module
and Session have, the exception FLARE raises for each bad input, every way FLARE makes a session, and
abort then delete of a job not yet running. (On FLARE's engine: ``test_flare_api_on_flare``.)"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flare_api_cases import CASES, case_id, matches, raised

from conftest import ADMIN, Served
from jobs import hello_server

FLARE_ONLY = ["list_job_components", "download_job_components", "configure_job_log", "configure_site_log",
              "do_app_command", "do_command", "register_study", "add_study_site", "remove_study_site",
              "remove_study", "list_studies", "show_study", "add_study_user", "remove_study_user"]

#: FLARE 2.9's flare_api names, as its own interpreter lists them: the module's own functions and
#: classes, everything it takes from its api_spec, and the constants and exception classes it exposes.
#: Left out: its plumbing (AdminAPI, protocol keys, argument validators, stdlib and typing modules).
NAMES_SCRIPT = """
import inspect, json
import nvflare.fuel.flare_api.flare_api as m
from nvflare.fuel.flare_api import api_spec
names = []
for name, value in vars(m).items():
    if name.startswith("_") or inspect.ismodule(value):
        continue
    ours = getattr(value, "__module__", "") in (m.__name__, api_spec.__name__)
    exception = inspect.isclass(value) and issubclass(value, BaseException)
    if ours or exception or (name.isupper() and isinstance(value, str)):
        names.append(name)
methods = [n for n, v in vars(m.Session).items() if not n.startswith("_") and callable(v)]
methods += [n for n in vars(api_spec.SessionSpec) if not n.startswith("_")]
print(json.dumps({"names": sorted(names), "methods": sorted(set(methods)),
                  "DEFAULT_STUDY": m.DEFAULT_STUDY, "SUBMIT_TOKEN_CONFLICT_STATUS": m.SUBMIT_TOKEN_CONFLICT_STATUS,
                  "SUBMIT_TOKEN_JOB_DELETED_STATUS": m.SUBMIT_TOKEN_JOB_DELETED_STATUS}))
"""


@pytest.fixture
def shared_session(served: Served) -> Iterator[object]:
    from console.flare_api import new_secure_session

    with new_secure_session(ADMIN, str(served.project.admin_kit), timeout=10) as sess:
        yield sess


@pytest.mark.timeout(300)
def test_every_name_of_flares_flare_api_is_ours(flare_venv: Path) -> None:
    import console.flare_api as ours

    done = subprocess.run([str(flare_venv), "-c", NAMES_SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    flare = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"new_session", "new_insecure_session", "DEFAULT_STUDY", "FLCommunicationError", "Session"} <= set(
        flare["names"]), flare  # the reading above finds what a script imports
    assert [n for n in flare["names"] if not hasattr(ours, n)] == []
    assert [m for m in flare["methods"] if not callable(getattr(ours.Session, m, None))] == []
    for constant in ("DEFAULT_STUDY", "SUBMIT_TOKEN_CONFLICT_STATUS", "SUBMIT_TOKEN_JOB_DELETED_STATUS"):
        assert getattr(ours, constant) == flare[constant]


@pytest.mark.timeout(120)
def test_each_bad_input_raises_what_flare_raises(shared_session) -> None:
    wrong = {case_id(c): mro for c in CASES if not matches(mro := raised(shared_session, *c[:3]), c[3])}
    assert wrong == {}


@pytest.mark.timeout(60)
def test_what_our_engine_lacks_is_said_in_flares_exception(shared_session) -> None:
    from console.flare_api import CommandError

    args = {"list_job_components": ("x",), "download_job_components": ("x",), "configure_job_log": ("x", "INFO"),
            "configure_site_log": ("DEBUG",), "do_app_command": ("x", "hello", {}), "do_command": ("list_jobs",),
            "list_studies": (), "remove_study": ("st",), "show_study": ("st",), "add_study_user": ("st", "u@x.org"),
            "remove_study_user": ("st", "u@x.org")}
    for method in FLARE_ONLY:
        with pytest.raises(CommandError) as caught:
            getattr(shared_session, method)(*args.get(method, ("st", ["site-1"])))
        assert caught.value.error_code == "COMMAND_NOT_SUPPORTED", method
        assert f"{method} is not supported by flare-console's own engine" in str(caught.value)
        assert "NVIDIA FLARE's engine has it" in str(caught.value), method


@pytest.mark.timeout(60)
def test_session_api_names_the_method_a_flare_script_calls_instead(shared_session) -> None:
    """FLARE scripts call ``sess.api.do_command(...)`` (FLARE's AdminAPI): ours has none to hand out and says,
    in FLARE's CommandError, which Session method does that command here."""
    from console.flare_api import CommandError

    assert "api" in vars(shared_session)  # an attribute, as FLARE's Session's
    for call in (lambda: shared_session.api.do_command("list_jobs -d"), lambda: shared_session.do_command("list_jobs")):
        with pytest.raises(CommandError) as caught:
            call()
        assert caught.value.error_code == "COMMAND_NOT_SUPPORTED"
        assert "for list_jobs, call Session.list_jobs" in str(caught.value), caught.value
    with pytest.raises(CommandError, match="asked for configure_site_log; NVIDIA FLARE's engine has it"):
        shared_session.api.do_command("configure_site_log all DEBUG")
    with pytest.raises(CommandError, match="for download_job, call Session.download_job_result"):
        shared_session.api.do_command("download_job 1234")
    with pytest.raises(AttributeError, match="Session.api.logout: flare-console's own engine has no FLARE admin"):
        shared_session.api.logout()


@pytest.mark.timeout(120)
def test_every_way_flare_makes_a_session_works_on_our_kit(served: Served) -> None:
    from console.flare_api import (
        Session,
        SessionSpec,
        basic_cb_with_print,
        new_insecure_session,
        new_secure_session,
        new_session,
    )

    kit = str(served.project.admin_kit)
    direct = Session(username=ADMIN, startup_path=kit, secure_mode=True)  # FLARE's tool/api_utils.py pattern
    try:
        direct.try_connect(10)
        assert direct.get_system_info().server_info.status
    finally:
        direct.close()
    made = [new_secure_session(ADMIN, kit), new_session(ADMIN, kit, command_timeout=7.0), new_insecure_session(kit)]
    try:
        for session in made:
            assert isinstance(session, Session) and isinstance(session, SessionSpec)
            assert isinstance(session.list_jobs(), list)
        assert made[2].username == ADMIN  # insecure: the user is the kit certificate's
        assert basic_cb_with_print(made[0], "x", {"status": "RUNNING"}) is True
    finally:
        for session in made:
            session.close()
    with pytest.raises(AssertionError, match="startup kit does not exist"):
        Session(username=ADMIN, startup_path=str(served.project.admin_kit / "nope"))


@pytest.mark.timeout(180)
def test_abort_before_running_ends_the_job_and_delete_follows(shared_session, tmp_path: Path) -> None:
    """FLARE's answer and status for a job aborted before it ran, at once; delete works right after
    (report: 2 of 3 deletes refused "still running" after "Abort signal has been sent" while SUBMITTED)."""
    job = str(hello_server(tmp_path, name="abortdel", steps=40, step_seconds=0.5))
    for _ in range(4):
        job_id = shared_session.submit_job(job)
        answer = shared_session.abort_job(job_id)
        status = shared_session.get_job_meta(job_id)["status"]
        assert status == "FINISHED:ABORTED", (answer, status)
        assert answer in (f"Aborted the job {job_id} before running it.",
                          "Abort signal has been sent to the server app."), answer
        assert shared_session.delete_job(job_id)["job_id"] == job_id
    running = shared_session.submit_job(job)
    shared_session.monitor_job(running, timeout=30, poll_interval=0.2,
                               cb=lambda s, j, meta: meta["status"] not in ("RUNNING",))
    answer = shared_session.abort_job(running)
    assert shared_session.get_job_meta(running)["status"] == "FINISHED:ABORTED", answer
    shared_session.delete_job(running)


TRANSLATE_SCRIPT = """
import json
from nvflare.apis.fl_exception import FLCommunicationError
from nvflare.fuel.flare_api import api_spec
from console.backends.nvflare_errors import translate
seen = {}
for exc in (ValueError("v"), SyntaxError("s"), TypeError("t"), AssertionError("a"), FLCommunicationError("lost"),
            api_spec.JobNotFound("j"), api_spec.InvalidArgumentError("i")):
    seen[type(exc).__name__] = [k.__module__ + "." + k.__name__ for k in type(translate(exc)).__mro__]
refused = translate(api_spec.CommandError("STUDY_NOT_FOUND", "no study 'x'", hint="list_studies shows them"))
seen["CommandError"] = [refused.error_code, refused.message, refused.hint, str(refused)]
print(json.dumps(seen))
"""


@pytest.mark.timeout(300)
def test_flares_exceptions_become_ours_keeping_flares_builtin_class(flare_venv: Path) -> None:
    """On FLARE's kit, what FLARE raises reaches a script as ours: a builtin it raised stays that builtin
    (and is our InvalidArgumentError for the console), a failed connection is NoConnection."""
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([str(flare_venv), "-c", TRANSLATE_SCRIPT], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    ours = "console.wire.exceptions."
    for builtin, kind in (("ValueError", "InvalidValue"), ("SyntaxError", "InvalidSyntax"),
                          ("TypeError", "InvalidType"), ("AssertionError", "InvalidAssertion")):
        assert seen[builtin][0] == ours + kind and f"builtins.{builtin}" in seen[builtin], seen[builtin]
        assert ours + "InvalidArgumentError" in seen[builtin]
    assert seen["FLCommunicationError"][0] == ours + "NoConnection", seen
    assert seen["CommandError"] == ["STUDY_NOT_FOUND", "no study 'x'", "list_studies shows them", "no study 'x'"]
    assert seen["JobNotFound"][0] == ours + "JobNotFound" and seen["InvalidArgumentError"][0] == (
        ours + "InvalidArgumentError"), seen


FLARES_CLASSES_SCRIPT = """
import inspect, json, sys
first = sys.argv[1]
if first == "flare":
    from nvflare.fuel.flare_api import api_spec
import console.flare_api as ours
loaded_with_ours = "nvflare" in sys.modules
from nvflare.fuel.flare_api import api_spec
from nvflare.apis.fl_exception import FLCommunicationError
missed = [name for name, theirs in vars(api_spec).items() if inspect.isclass(theirs)
          and theirs.__module__ == api_spec.__name__ and name != "MonitorReturnCode"
          and not issubclass(getattr(ours, name), theirs)]
missed += [] if issubclass(ours.FLCommunicationError, FLCommunicationError) else ["FLCommunicationError"]
codes = all(getattr(ours.MonitorReturnCode, m) == v for m, v in api_spec.MonitorReturnCode.__members__.items())
caught = {}
if first == "ours":
    kit, user = sys.argv[2:4]
    with ours.new_secure_session(user, kit, timeout=10) as s:
        for name, call in (("JobNotFound", lambda: s.get_job_meta("nope")),
                           ("InvalidArgumentError", lambda: s.list_jobs(submit_token="bad token with blanks")),
                           ("SessionClosed", lambda: (s.close(), s.list_jobs()))):
            try:
                call()
            except getattr(api_spec, name) as exc:
                caught[name] = type(exc).__name__
            except Exception as exc:
                caught[name] = "not caught: " + repr(exc)
print(json.dumps({"loaded_with_ours": loaded_with_ours, "missed": missed, "codes": codes, "caught": caught,
                  "session": isinstance(ours.Session.__new__(ours.Session), api_spec.SessionSpec)}))
"""


@pytest.mark.timeout(300)
@pytest.mark.parametrize("first", ["ours", "flare"])
def test_flares_own_classes_catch_ours(flare_venv: Path, served: Served, first: str) -> None:
    """A FLARE script keeping ``from nvflare.fuel.flare_api.api_spec import JobNotFound`` catches what our
    session raises: each of our classes is a subclass of FLARE's (whichever is imported first), and
    importing ours alone does not import FLARE (its start cost). FLARE's engine: test_flare_api_on_flare."""
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([str(flare_venv), "-c", FLARES_CLASSES_SCRIPT, first, str(served.project.admin_kit), ADMIN],
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin", "HOME": str(repo)})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["missed"] == [] and seen["codes"] and seen["session"], seen
    assert seen["loaded_with_ours"] is (first == "flare"), seen
    if first == "ours":
        assert seen["caught"] == {"JobNotFound": "JobNotFound", "InvalidArgumentError": "InvalidArgumentError",
                                  "SessionClosed": "SessionClosed"}, seen
