"""Issue 12: nobody gets more than the policy grants (custom code, keys and kit internals, logs).

Real server, real sites, real job child processes; every process started here is stopped.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from console.flare_api import AuthorizationError, new_secure_session
from console.jobdef.code import job_code

from conftest import ADMIN, ServerProcess, SiteProcess, make_project, wait_until

LEAD = "lead@example.com"
MEMBER = "member@example.com"
OTHER_LEAD = "lead@other.org"
PEOPLE = [
    {"name": LEAD, "type": "admin", "org": "example", "role": "lead"},
    {"name": OTHER_LEAD, "type": "admin", "org": "other", "role": "lead"},
    {"name": MEMBER, "type": "admin", "org": "example", "role": "member"},
]
WORKSPACE_LIMIT = 1 << 20
EVIL = "from pathlib import Path\n\ndef run(ctx):\n    Path({marker!r}).write_text('ran')\n\ntrain = run\n"


def _forbid_byoc_for_lead(kit: Path) -> None:
    path = kit / "local" / "authorization.json"
    policy = json.loads(path.read_text())
    policy["permissions"]["lead"]["byoc"] = "none"
    path.write_text(json.dumps(policy))


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A server and site-1, with 'byoc: none' for leads on both, and a session per person."""
    project = make_project(tmp_path_factory.mktemp("limits"), extra=PEOPLE)
    for part in ("server", "site-1"):
        _forbid_byoc_for_lead(project.kit(part))
    config_path = project.server_kit / "startup" / "fed_server.json"
    config = json.loads(config_path.read_text())
    config["servers"][0]["job_limits"] = {"max_workspace_bytes": WORKSPACE_LIMIT}
    config_path.write_text(json.dumps(config))
    server = ServerProcess(project.server_kit)
    site = SiteProcess(project.kit("site-1"))
    sessions: dict = {}
    try:
        server.start()
        for who in (ADMIN, LEAD, OTHER_LEAD, MEMBER):
            sessions[who] = new_secure_session(who, str(project.kit(who)))
        site.start()
        wait_until(lambda: sessions[ADMIN].get_connected_client_list(), 20, "site-1 to connect")
        yield {"project": project, "server": server, "site": site, **sessions}
    finally:
        for sess in sessions.values():
            sess.close()
        site.stop()
        server.stop()


def _evil_job(root: Path, marker: Path, *, where: str = "top") -> Path:
    """A job whose apps bring code outside custom/ (``where``: top, nested, so) and name it in configs."""
    job = root / f"evil-{where}"
    for app, config, key in (("app_server", "config_fed_server.json", "controller"),
                             ("app_site-1", "config_fed_client.json", "executor")):
        (job / app / "config").mkdir(parents=True, exist_ok=True)
        (job / app / "config" / config).write_text(json.dumps({key: f"{app}.evil:run"}))
        code_dir = job / app / ("lib" if where == "nested" else "")
        code_dir.mkdir(parents=True, exist_ok=True)
        name = "evil.cpython-311-x86_64-linux-gnu.so" if where == "so" else "evil.py"
        (code_dir / name).write_text(EVIL.format(marker=str(marker)))
    (job / "meta.json").write_text(json.dumps({"name": "evil", "min_clients": 1, "deploy_map": {
        "app_server": ["server"], "app_site-1": ["site-1"]}}))
    return job


# -- 1. custom code wherever it lies ------------------------------------------------------------


def test_job_code_is_found_wherever_it_lies(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for where in ("top", "nested", "so"):
        assert job_code(_evil_job(tmp_path, marker, where=where)), where
    data_only = tmp_path / "data-only"
    (data_only / "app" / "config").mkdir(parents=True)
    (data_only / "app" / "config" / "config_fed_server.json").write_text('{"workflow": "fedavg"}')
    (data_only / "app" / "weights.npz").write_bytes(b"x")
    (data_only / "app" / "custom").mkdir()  # empty: no code
    assert job_code(data_only) == []
    (data_only / "app" / "config" / "config_fed_client.json").write_text('{"executor": "trainer:train"}')
    assert job_code(data_only) == ["app/config/config_fed_client.json: executor 'trainer:train'"]


def _run_child(app: str, workspace: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    """A job child process as the runner starts it: cwd = the job workspace."""
    module, who = (("console.runtime.server_app", ["--sites", ""]) if app == "app_server"
                   else ("console.runtime.site_app", ["--site", "site-1"]))
    return subprocess.run([sys.executable, "-m", module, "--job-id", "j", *who, "--app-dir", str(workspace / app),
                           "--workspace", str(workspace), *extra], cwd=workspace, input=b"", capture_output=True,
                          timeout=60)


@pytest.mark.timeout(120)
def test_job_processes_import_only_from_custom_and_only_when_allowed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    workspace = _evil_job(tmp_path, marker)
    for app in ("app_server", "app_site-1"):
        # Code at the app's top level is never imported, whatever the policy says.
        for extra in ((), ("--custom-code",)):
            assert _run_child(app, workspace, *extra).returncode == 2
            assert not marker.exists(), (app, extra)
        assert "not in the app's custom/ folder" in (workspace / "log.txt").read_text()
        # The same code in custom/ runs only with the right.
        (workspace / app / "custom").mkdir(exist_ok=True)
        (workspace / app / "custom" / "mine.py").write_text(EVIL.format(marker=str(marker)))
        config = workspace / app / "config" / ("config_fed_server.json" if app == "app_server"
                                               else "config_fed_client.json")
        config.write_text(json.dumps({"controller" if app == "app_server" else "executor": "mine:run"}))
        assert _run_child(app, workspace).returncode == 2
        assert not marker.exists()
        assert "lacks the 'byoc' right" in (workspace / "log.txt").read_text()
    # It ran (0), or saw stdin already closed, which reads as an abort (3), once it had run.
    assert _run_child("app_server", workspace, "--custom-code").returncode in (0, 3)
    assert marker.read_text() == "ran"


def test_code_outside_custom_needs_the_byoc_right(fed, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for where in ("top", "nested"):
        with pytest.raises(AuthorizationError, match=r"lacks the right 'byoc'.*evil"):
            fed[LEAD].submit_job(str(_evil_job(tmp_path, marker, where=where)))
    assert fed[LEAD].list_jobs() == []
    assert not marker.exists()


# -- 2. keys, kit internals, job logs --------------------------------------------------------------


def _a_queued_job(fed, tmp_path: Path) -> str:
    from jobs import waiting_for_sites

    folder = waiting_for_sites(tmp_path)
    meta = json.loads((folder / "meta.json").read_text())
    # site-9 never connects: the job stays queued; site-1 is one of its sites (its logs are the job's)
    meta["deploy_map"] = {"app": ["server", "site-1", "site-9"]}
    meta["min_clients"] = 1
    meta["mandatory_clients"] = ["site-9"]
    (folder / "meta.json").write_text(json.dumps(meta))
    return fed[ADMIN].submit_job(str(folder))


@pytest.mark.parametrize("who", [ADMIN, LEAD])
def test_no_command_hands_out_a_kit(fed, who: str) -> None:
    sess = fed[who]
    reads = [
        lambda t, f: sess.cat_target(t, file=f), lambda t, f: sess.head_target(t, file=f),
        lambda t, f: sess.tail_target(t, "-n 5", f), lambda t, f: sess.grep_target(t, "-F", "BEGIN", f),
        lambda t, f: sess.ls_target(t, "-l", f),
    ]
    targets = {"server": ["startup/server.key", "startup", "local/authorization.json", "./startup/../startup",
                          "store/jobs.db", "store"],
               "site-1": ["startup/client.key", "local", "startup/rootCA.pem"]}
    for target, files in targets.items():
        for name in files:
            for read in reads:
                # a ``..`` is refused before it is sent, as FLARE 2.9's flare_api does; the rest by the server
                with pytest.raises(Exception, match=r"never shown|outside the workspace|\.\. in path name is not allowed"):
                    read(target, name)
    assert "startup/" in sess.ls_target("server")  # the folder's name is no secret; its content is


def test_links_and_log_names_cannot_leave_the_job(fed, tmp_path: Path) -> None:
    project = fed["project"]
    job_id = _a_queued_job(fed, tmp_path)
    workspace = project.server_kit / job_id
    workspace.mkdir()
    (workspace / "log.txt").symlink_to(project.server_kit / "startup" / "server.key")
    (workspace / "error_log.txt").symlink_to(project.server_kit / "log.txt")  # out of the job, in the server's
    (workspace / "notes.txt").write_text("job data\n")
    site_root = project.kit("site-1")
    (site_root / job_id).mkdir()
    (site_root / job_id / "log.txt").symlink_to(site_root / "startup" / "client.key")
    member = fed[MEMBER]
    for target in ("server", "site-1"):
        with pytest.raises(Exception, match="never shown|outside the workspace"):
            member.get_job_logs(job_id, target)
        with pytest.raises(Exception, match="never shown|outside the workspace"):
            fed[ADMIN].cat_target(target, file=f"{job_id}/log.txt")
    with pytest.raises(Exception, match="outside the workspace"):
        member.get_job_logs(job_id, "server", log_file_name="error_log.txt")
    for name in ("../startup/server.key", "../../log.txt", "/etc/passwd", "notes.txt", "sub/log.txt", ".log.txt",
                 "log.txt\x00"):
        with pytest.raises(Exception, match="not a log file name"):
            member.get_job_logs(job_id, "server", log_file_name=name)
    (workspace / "log.txt").unlink()
    (workspace / "log.txt").write_text("round 1\nround 2\n")
    assert member.get_job_logs(job_id, "server", tail_lines=1) == {"logs": {"server": "round 2\n"}}


# -- 4. every stored field is bounded before anything is stored -----------------------------------


def _meta_job(root: Path, **meta_changes) -> Path:
    from jobs import hello_server

    folder = hello_server(root, name="bounded")
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(meta_changes)
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "x" * 2_000}, "is 2000 characters long; the limit is 256"),
    ({"name": "ok\x1b]52;c;ZXZpbA==\x07"}, "control or format character U\\+001B"),
    ({"name": "ok\u202eevil"}, "U\\+202E"),
    ({"padding": "x" * 70_000}, "meta.json is 7.* bytes; the limit is 65536"),
    ({"resource_spec": {"k": "v" * 20_000}}, "resource_spec is .* the limit is 16384"),
    ({"min_clients": 10**9}, "min_clients is 1000000000"),
    ({"mandatory_clients": ["s" * 200]}, "a site name is 200 characters long"),
])
def test_job_fields_are_bounded(tmp_path: Path, change: dict, message: str) -> None:
    from console.jobdef.validate import JobDefinitionError, validate_job_folder

    folder = _meta_job(tmp_path, **change)
    with pytest.raises(JobDefinitionError, match=message):
        validate_job_folder(folder)


def test_archive_names_are_bounded(tmp_path: Path) -> None:
    import zipfile

    from console.jobdef.archive import safe_extract
    from console.jobdef.validate import JobDefinitionError

    for name, message in (("a/" * 40 + "f", "folders deep"), ("d/" + "n" * 300, "name of 300 bytes"),
                          ("x" * 1100, "name of 1100 bytes")):
        archive = tmp_path / "a.zip"
        with zipfile.ZipFile(archive, "w") as out:
            out.writestr(name, b"data")
        with pytest.raises(JobDefinitionError, match=message):
            safe_extract(archive, tmp_path / "out", max_total_bytes=1 << 20)
        assert not (tmp_path / "out").exists()


def test_an_oversized_name_is_refused_before_it_is_stored(fed, tmp_path: Path) -> None:
    from console.flare_api import InvalidArgumentError, InvalidJobDefinition

    admin = fed[ADMIN]
    before = len(admin.list_jobs())
    with pytest.raises(InvalidJobDefinition, match="meta.json is 2000.* bytes; the limit is 65536"):
        admin.submit_job(str(_meta_job(tmp_path, name="n" * 2_000_000)))
    assert len(admin.list_jobs()) == before
    # The wire's fields that get stored are bounded the same way (disable_client keeps its name).
    for name, message in (("s" * 100_000, "the limit is 128"), ("site\x1b]0;x\x07", "U\\+001B"),
                          ("../x", "is not a site name")):
        with pytest.raises(InvalidArgumentError, match=message):
            admin.disable_client(name)
    disabled = fed["project"].server_kit / "store" / "disabled_sites.json"
    assert not disabled.exists() or json.loads(disabled.read_text()) == []


# -- 5. nothing from the server reaches a terminal raw ---------------------------------------------

HOSTILE = "title\x1b]0;pwned\x07 clip\x1b]52;c;ZXZpbA==\x07 clear\x1b[2J\x1bc bidi\u202eevil\r\x9b31m"


def test_hostile_text_is_shown_visibly_and_json_stays_exact() -> None:
    from console.shell.output import Format, render
    from console.shell.safe_text import visible
    from console.shell.toolbar import ToolbarState, render_toolbar

    rows = [{"job_id": "1234", "job_name": HOSTILE, "status": "SUBMITTED"}]
    for fmt in (Format.TABLE, Format.RAW):
        for result in (rows, HOSTILE, {"a": HOSTILE}, [HOSTILE]):
            shown = render(result, fmt)
            assert not any(c in shown for c in "\x1b\x07\r\x9b\u202e"), (fmt, shown)
    table = render(rows, Format.TABLE, width=1000).splitlines()  # wide enough to stay a table
    assert "\\x1b]52;c;ZXZpbA==\\x07" in table[2] and "\\u202e" in table[2]
    assert len(table[1]) == len(table[2])  # the columns still line up
    assert json.loads(render(rows, Format.JSON)) == rows
    assert visible("a\tb\nc\r\nd") == "a\tb\nc\r\nd"  # tabs, newlines and CRLF line ends stay
    bar = render_toolbar(ToolbarState(HOSTILE, "srv", lambda: True, lambda: 0, lambda: "table", lambda: False))
    assert "\x1b" not in "".join(text for _, text in bar)


INVISIBLE = "ad\u200bmin\u200c\u200d\u2060\ufeff\u00ad\u180e\u2064\U000e0041\u3164\u2028\u2029\ud800 end"


def test_invisible_characters_are_shown_and_json_stays_exact() -> None:
    """Zero-width, format and other invisible characters hide text or make names look alike."""
    import sys
    import unicodedata

    from console.shell.output import Format, render
    from console.shell.safe_text import visible, visible_line

    shown = visible(INVISIBLE)
    assert shown == ("ad\\u200bmin\\u200c\\u200d\\u2060\\ufeff\\xad\\u180e\\u2064\\U000e0041\\u3164"
                     "\\u2028\\u2029\\ud800 end")
    rows = [{"job_id": "1234", "job_name": INVISIBLE, "status": "SUBMITTED"}]
    for fmt in (Format.TABLE, Format.RAW):
        assert "\u200b" not in render(rows, fmt) and "\\u200b" in render(rows, fmt)
    assert json.loads(render(rows, Format.JSON)) == rows
    # Every control, format, surrogate, line and paragraph separator this Python knows is shown.
    missed = [f"U+{code:04X}" for code in range(sys.maxunicode + 1)
              if unicodedata.category(chr(code)) in ("Cc", "Cf", "Cs", "Zl", "Zp") and chr(code) not in "\t\n"
              and visible_line(chr(code)) == chr(code)]
    assert missed == []
    # The same list refuses such names in job archives (console.names.UNSEEN), tab and newline too.
    from console.names import UNSEEN
    assert [f"U+{code:04X}" for code in range(sys.maxunicode + 1)
            if unicodedata.category(chr(code)) in ("Cc", "Cf", "Cs", "Zl", "Zp") and not UNSEEN.match(chr(code))] == []
    assert visible("é 中 😀\ufe0f naïve\u0301 \u00a0") == "é 中 😀\ufe0f naïve\u0301 \u00a0"  # visible text stays


def test_hostile_file_contents_through_the_console(fed, tmp_path: Path) -> None:
    from shell_helpers import run_console

    (fed["project"].server_kit / "hostile.txt").write_text(HOSTILE + "\n")
    kit = str(fed["project"].admin_kit)
    plain = run_console(tmp_path, "--kit", kit, "-c", "cat server hostile.txt")
    assert plain.returncode == 0, plain.stderr
    assert "\x1b" not in plain.stdout and "\\x1b]52;c;ZXZpbA==\\x07" in plain.stdout
    exact = run_console(tmp_path, "--kit", kit, "--format", "json", "-c", "cat server hostile.txt")
    assert json.loads(exact.stdout) == HOSTILE + "\n"
    failed = run_console(tmp_path, "--kit", kit, "-c", f"get_job_meta {HOSTILE[:16]}")
    assert failed.returncode == 1 and "\x1b" not in failed.stderr  # the server's error echoes the input


# -- 6. disk amplification ----------------------------------------------------------------------------


def test_expansion_is_limited_while_extracting(tmp_path: Path) -> None:
    """Finding 5 (scale 7): a refusal names the rule that decided it, its numbers, its setting and
    what to do; the default ratio takes zeros however they are deflated (a zero-initialised model)."""
    import zipfile

    from console.jobdef.archive import JobLimits, safe_extract
    from console.jobdef.validate import JobDefinitionError

    def zeros(name: str, method: int, level: int | None) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w", method, compresslevel=level) as out:
            out.writestr("meta.json", b"{}")
            out.writestr("app/zeros.bin", bytes(24 << 20))  # 24 MiB of zeros
        return path

    fast, best = zeros("fast.zip", zipfile.ZIP_DEFLATED, 1), zeros("best.zip", zipfile.ZIP_DEFLATED, 9)
    assert (24 << 20) / best.stat().st_size > 1000  # deflate's ceiling: about 1032 to 1
    limits = JobLimits(max_expansion_ratio=100, ratio_floor_bytes=1 << 20)
    with pytest.raises(JobDefinitionError) as refused:
        limits.extract(fast, tmp_path / "out")
    message = str(refused.value)
    assert f"archive unpacks to {(24 << 20) + 2} bytes, more than 100 times the archive's {fast.stat().st_size}" \
        in message
    assert "job_limits.max_expansion_ratio" in message and "1048576 bytes (job_limits.ratio_floor_bytes)" in message
    assert "model of zeros" in message and "ask the operator to raise" in message
    assert not (tmp_path / "out").exists()
    with pytest.raises(JobDefinitionError, match=r"more than the limit of 4096 bytes \(job_limits.max_unpacked_bytes\); "
                                                 "make the job smaller, or ask the operator to raise"):
        JobLimits(max_unpacked_bytes=4096).extract(best, tmp_path / "out")
    with pytest.raises(JobDefinitionError, match="limit of 4096 bytes$"):  # no setting behind it: none named
        safe_extract(best, tmp_path / "out", max_total_bytes=4096)
    # The default ratio: zeros pass at any deflate level, even with the exemption lowered to 1 MiB.
    default = JobLimits(ratio_floor_bytes=1 << 20)
    for archive in (fast, best):
        default.extract(archive, tmp_path / archive.stem)
        assert (tmp_path / archive.stem / "app" / "zeros.bin").stat().st_size == 24 << 20
    # What no single deflate stream makes (bzip2 of zeros: ~100000 to 1) is still refused.
    with pytest.raises(JobDefinitionError, match="more than 1100 times the archive's"):
        default.extract(zeros("bz.zip", zipfile.ZIP_BZIP2, None), tmp_path / "bz")


BIG_WRITER = '''
import os
from console.runtime.contract import TaskResult


def train(model, ctx):
    (ctx.workspace / "big.bin").write_bytes(os.urandom(3 << 20))
    (ctx.workspace / "metrics.txt").write_text("loss 0.1\\n")
    return TaskResult({k: v + 1 for k, v in model.items()})
'''


def test_collected_workspaces_are_limited_and_delete_removes_every_copy(fed, tmp_path: Path) -> None:
    from jobs import numpy_job

    admin, project = fed[ADMIN], fed["project"]
    folder = numpy_job(tmp_path, name="writes-big", rounds=1, min_clients=1)
    (folder / "app" / "custom" / "trainer.py").write_text(BIG_WRITER)
    job_id = admin.submit_job(str(folder))
    assert admin.wait_for_job(job_id, timeout=60)["status"] == "FINISHED:COMPLETED"
    site_zip = project.server_kit / "store" / "jobs" / job_id / "sites" / "site-1.zip"
    assert site_zip.stat().st_size <= WORKSPACE_LIMIT + (64 << 10)
    result = Path(admin.download_job_result(job_id, str(tmp_path / "dl")))
    kept = {p.relative_to(result).as_posix() for p in result.rglob("*") if p.is_file()}
    assert "sites/site-1/metrics.txt" in kept and "sites/site-1/big.bin" not in kept
    assert "big.bin (3145728 bytes)" in (result / "sites" / "site-1" / "ARCHIVE_TRUNCATED.txt").read_text()
    said = admin.get_job_meta(job_id)["job_errors"]["site-1"]  # said where the user looks, not only in the zip
    assert len(said) == 1 and "left out: big.bin (3145728 bytes)" in said[0] and "sites/site-1/" in said[0]
    site_workspace = project.kit("site-1") / job_id
    assert (site_workspace / "big.bin").exists()
    admin.delete_job(job_id)
    assert not site_workspace.exists() and not (project.server_kit / job_id).exists()
    assert not (project.server_kit / "store" / "jobs" / job_id).exists()


def _model_job(root: Path, rounds: int) -> tuple[Path, np.ndarray]:
    """hello-numpy on site-1 with a 2 MiB random initial model in its app (over WORKSPACE_LIMIT on
    its own), every round's model saved."""
    from jobs import numpy_job

    folder = numpy_job(root, name="big-model", rounds=rounds, min_clients=1)
    meta = json.loads((folder / "meta.json").read_text())
    meta["deploy_map"] = {"app": ["server", "site-1"]}
    (folder / "meta.json").write_text(json.dumps(meta))
    start = np.random.default_rng(7).random((2 << 20) // 4, dtype=np.float32)
    np.savez(folder / "app" / "initial.npz", weights=start)
    config_path = folder / "app" / "config" / "config_fed_server.json"
    config = json.loads(config_path.read_text())
    config["args"].update(initial_model="initial.npz", save_rounds=True)
    config_path.write_text(json.dumps(config))
    return folder, start


@pytest.mark.timeout(120)
def test_the_final_model_is_kept_and_what_is_left_out_is_said(fed, tmp_path: Path) -> None:
    """Scale 7, findings 1 and 4: the server's workspace archive holds no copy of job.zip, keeps the
    job's results first within max_workspace_bytes plus the job's archive size, says in job_errors
    what it left out, and the folder keeps only its log once archived."""
    import zipfile

    from jobs import archived_model

    admin, project = fed[ADMIN], fed["project"]
    folder, start = _model_job(tmp_path, rounds=2)
    job_id = admin.submit_job(str(folder))
    meta = admin.wait_for_job(job_id, timeout=90)
    assert meta["status"] == "FINISHED:COMPLETED", meta.get("job_errors")
    np.testing.assert_array_equal(archived_model(project.server_kit, job_id)["weights"], start + 2)
    with zipfile.ZipFile(project.server_kit / "store" / "jobs" / job_id / "workspace.zip") as archive:
        names = set(archive.namelist())
    assert {"log.txt", "models/metrics.json", "models/final_model.npz", "ARCHIVE_TRUNCATED.txt"} <= names
    assert not any(name.startswith("app_server/") for name in names), names
    errors = meta["job_errors"]["server"]
    assert len(errors) == 1 and "its workspace archive was over its limit of" in errors[0]
    assert list(meta["job_errors"]) == ["server"]  # site-1 archives no copy of its app (nor of the model in it): job.zip holds them
    assert "models/round_1.npz" in errors[0] and "raise job_limits.max_workspace_bytes" in errors[0]
    result = Path(admin.download_job_result(job_id, str(tmp_path / "dl")))
    assert "models/round_2.npz" in (result / "workspace" / "ARCHIVE_TRUNCATED.txt").read_text()
    assert (result / "workspace" / "models" / "final_model.npz").is_file()
    assert (result / "job" / "app" / "initial.npz").is_file() and not (result / "sites" / "site-1" / "app_site-1").exists()
    assert [p.name for p in (project.server_kit / job_id).iterdir()] == ["log.txt"]
    assert "round 2/2" in admin.cat_target("server", file=f"{job_id}/log.txt")  # the log commands still read it


# -- 8. submit_token as FLARE 2.9 -----------------------------------------------------------------


def _queued_data_job(root: Path, name: str) -> Path:
    """FLARE's hello-numpy-sag (no code of its own) for a site that never connects: it stays queued."""
    from conftest import EXAMPLES

    folder = root / name
    import shutil

    shutil.copytree(EXAMPLES / "hello-numpy-sag", folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(name=name, deploy_map={"app": ["server", "site-9"]}, min_clients=1)
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_submit_token_gives_the_same_job_and_flares_errors(fed, tmp_path: Path) -> None:
    from console.flare_api import InvalidArgumentError, SubmitTokenConflict, SubmitTokenJobDeleted

    admin, lead = fed[ADMIN], fed[LEAD]
    job = _queued_data_job(tmp_path, "token-job")
    first = admin.submit_job(str(job), submit_token="run-42")
    assert admin.submit_job(str(job), submit_token="run-42") == first
    assert [row["job_id"] for row in admin.list_jobs(submit_token="run-42")] == [first]
    assert lead.submit_job(str(job), submit_token="run-42") != first  # tokens are per submitter
    other = _queued_data_job(tmp_path, "other-content")
    with pytest.raises(SubmitTokenConflict) as conflict:
        admin.submit_job(str(other), submit_token="run-42")
    assert conflict.value.existing_job_id == first
    assert admin.delete_job(first)["submit_records_marked_deleted"] == 1
    with pytest.raises(SubmitTokenJobDeleted) as deleted:
        admin.submit_job(str(job), submit_token="run-42")
    assert deleted.value.job_id == first and deleted.value.state == "JOB_DELETED" and deleted.value.deleted_time
    with pytest.raises(SubmitTokenJobDeleted):
        admin.list_jobs(submit_token="run-42")
    for bad in ("", "has space", "x" * 129, "semi;colon"):
        with pytest.raises(InvalidArgumentError, match="submit_token"):
            admin.submit_job(str(job), submit_token=bad)


@pytest.mark.timeout(120)
def test_a_retry_after_the_server_died_finds_the_job(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    server = ServerProcess(project.server_kit)
    try:
        server.start()
        job = _queued_data_job(tmp_path, "survives")
        with new_secure_session(ADMIN, str(project.admin_kit)) as admin:
            job_id = admin.submit_job(str(job), submit_token="nightly-2026-11-29")
        server.kill()  # as if the reply had been lost with the server
        server.start()
        with new_secure_session(ADMIN, str(project.admin_kit)) as admin:
            assert admin.submit_job(str(job), submit_token="nightly-2026-11-29") == job_id
            assert [j["job_id"] for j in admin.list_jobs()] == [job_id]
    finally:
        server.stop()
        server.kill()


# -- 9. revocation -----------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_removed_and_demoted_admins_lose_their_old_kits(tmp_path: Path) -> None:
    import yaml

    from console.provision.kits import provision

    project = make_project(tmp_path, extra=PEOPLE)
    project_file = tmp_path / f"{project.name}.yml"
    data = yaml.safe_load(project_file.read_text())
    for p in data["participants"]:
        if p["name"] == LEAD:
            p["role"] = "member"  # demoted
    data["participants"] = [p for p in data["participants"] if p["name"] != MEMBER]  # removed
    project_file.write_text(yaml.safe_dump(data))
    new_prod = Path(provision(project_file, tmp_path / "workspace"))
    assert new_prod.name == "prod_01"
    revoked = json.loads((tmp_path / "workspace" / project.name / "state" / "revoked.json").read_text())
    assert sorted(entry["name"] for entry in revoked.values()) == [LEAD, MEMBER]
    server = ServerProcess(new_prod / "server")
    try:
        server.start()
        for who, kit in ((LEAD, project.kit(LEAD)), (MEMBER, project.kit(MEMBER))):
            with pytest.raises(Exception, match="revoked"):
                new_secure_session(who, str(kit), timeout=5).close()
        server.wait_for_line("certificate revoked")
        with new_secure_session(LEAD, str(new_prod / LEAD)) as demoted:
            with pytest.raises(AuthorizationError, match="member"):
                demoted.submit_job(str(_queued_data_job(tmp_path, "not-any-more")))
        with new_secure_session(ADMIN, str(project.admin_kit)) as unchanged:  # earlier kits stay valid
            assert unchanged.list_jobs() == []
    finally:
        server.stop()


@pytest.mark.timeout(120)
def test_sites_and_consoles_refuse_a_revoked_server_certificate(tmp_path: Path) -> None:
    """A server whose certificate a newer provisioning revoked (its org changed) is refused by the
    newer kits of sites and admins: an old server key cannot impersonate the server."""
    import yaml

    from console.provision.kits import provision

    project = make_project(tmp_path)
    project_file = tmp_path / f"{project.name}.yml"
    data = yaml.safe_load(project_file.read_text())
    data["participants"][0]["org"] = "moved"  # the server's certificate is issued anew
    project_file.write_text(yaml.safe_dump(data))
    new_prod = Path(provision(project_file, tmp_path / "workspace"))
    old_server = ServerProcess(project.server_kit)
    site = SiteProcess(new_prod / "site-1")
    try:
        old_server.start()
        with pytest.raises(Exception, match="server's certificate is revoked by this kit's crl.pem"):
            new_secure_session(ADMIN, str(new_prod / ADMIN), timeout=5).close()
        site.start(wait=False)
        site.wait_for_line("server's certificate is revoked by this kit's crl.pem: the server runs a kit")
        assert "connected to the server" not in site.stderr
        with new_secure_session(ADMIN, str(project.admin_kit)) as earlier:  # the kit of its own time
            assert earlier.list_jobs() == []
    finally:
        site.stop()
        site.kill()
        old_server.stop()
        old_server.kill()


@pytest.mark.timeout(120)
def test_a_revoked_site_says_so_once_and_backs_off(tmp_path: Path) -> None:
    """A site started from a kit that a newer provisioning revoked: the server refuses it at the
    handshake; the site says why once (not "connected"), and retries with a growing pause."""
    import yaml

    from console.provision.kits import provision

    project = make_project(tmp_path)
    project_file = tmp_path / f"{project.name}.yml"
    data = yaml.safe_load(project_file.read_text())
    data["participants"] = [p for p in data["participants"] if p["name"] != "site-2"]
    project_file.write_text(yaml.safe_dump(data))
    new_prod = Path(provision(project_file, tmp_path / "workspace"))
    server = ServerProcess(new_prod / "server")
    site = SiteProcess(project.kit("site-2"))
    try:
        server.start()
        site.start(wait=False)
        wait_until(lambda: site.stderr.count("no login from the server on that link") >= 4, 30, "four attempts")
        refusals = re.findall(r"refuses this site('s certificate as revoked| \(its certificate revoked)", site.stderr)
        assert 1 <= len(refusals) <= 2, site.stderr  # said once (the alert's name may come through once)
        assert "connected to the server" not in site.stderr
        pauses = [float(p) for p in re.findall(r"retrying in ([0-9.]+) s", site.stderr)]
        assert pauses[:4] == sorted(pauses[:4]) and pauses[3] > pauses[0], pauses  # growing
    finally:
        site.stop()
        site.kill()
        server.stop()
        server.kill()
