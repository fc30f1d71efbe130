"""One FLARE API scenario, written once, run unchanged against NVIDIA FLARE and against flare-console.

    python conformance_scenario.py --api nvflare|console --user U --kit KIT --job JOB --out obs.json

It needs only the standard library and the API under test (``nvflare.fuel.flare_api`` in FLARE's
venv, ``console.flare_api`` in ours). Each step records what a script would see: the return type,
dict keys, list item shapes, status strings and exception classes, with job IDs and scratch paths
replaced by placeholders so that the two records can be compared (``conformance.py`` does that).
"""

from __future__ import annotations

import argparse
import enum
import importlib
import json
import os
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

SITE = "site-1"
MISSING_JOB = "no-such-job"
MODULE_FUNCTIONS = ("new_secure_session", "new_insecure_session", "basic_cb_with_print")
TERMINAL = "FINISHED:"


def load_api(name: str) -> tuple[Any, Any]:
    """The FLARE API module and the module holding its types and exceptions."""
    if name == "nvflare":
        return (importlib.import_module("nvflare.fuel.flare_api.flare_api"),
                importlib.import_module("nvflare.fuel.flare_api.api_spec"))
    api = importlib.import_module("console.flare_api")
    return api, api


class Recorder:
    """Runs named steps, keeping a comparable description of each outcome."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.placeholders: dict[str, str] = {}

    def name(self, text: str, placeholder: str) -> None:
        self.placeholders[text] = placeholder

    def normalise(self, text: str) -> str:
        for raw, placeholder in sorted(self.placeholders.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(raw, placeholder)
        return text

    def describe(self, value: Any, compare_value: bool) -> dict[str, Any]:
        shape: dict[str, Any] = {"type": type(value).__name__}
        if isinstance(value, enum.Enum):
            shape["value"] = value.name
        elif isinstance(value, dict):
            shape["keys"] = sorted(map(str, value))
            if compare_value:
                shape["value"] = json.loads(self.normalise(json.dumps(value, default=str, sort_keys=True)))
        elif isinstance(value, (list, tuple)):
            shape["len"] = len(value)
            if value:
                shape["item"] = self.describe(value[0], False)
                keys = sorted({str(k) for item in value if isinstance(item, dict) for k in item})
                if keys:
                    shape["item_keys"] = keys
            if compare_value:
                shape["value"] = json.loads(self.normalise(json.dumps(value, default=str)))
        elif isinstance(value, str):
            if compare_value:
                shape["value"] = self.normalise(value)
        elif value is not None and not isinstance(value, (int, float, bool)):
            shape["attrs"] = {k: type(v).__name__ for k, v in sorted(vars(value).items()) if not k.startswith("_")}
        elif compare_value:
            shape["value"] = value
        return shape

    def step(self, name: str, fn: Callable[[], Any], compare_value: bool = False,
             note: Callable[[Any], dict[str, Any]] | None = None) -> Any:
        start = time.perf_counter()
        entry: dict[str, Any] = {"step": name}
        value = None
        try:
            value = fn()
            entry["outcome"] = "returned"
            entry.update(self.describe(value, compare_value))
            if note:
                entry.update(note(value))
        except Exception as exc:  # the scenario records exceptions; that is its purpose
            entry["outcome"] = "raised"
            entry["exception"] = type(exc).__name__
            entry["message"] = self.normalise(str(exc))[:300]
        entry["seconds"] = round(time.perf_counter() - start, 4)
        self.steps.append(entry)
        return value


def answers(call: Callable[[], Any], timeout: float) -> bool:
    """Whether ``call`` returns (raises nothing) within ``timeout`` s, tried every 0.2 s; not a step."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            call()
            return True
        except Exception:  # not yet: the very thing waited for
            time.sleep(0.2)
    return False


def wait_for_status(sess: Any, job_id: str, done: Callable[[str], bool], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = sess.get_job_meta(job_id).get("status", "")
        if done(status):
            return status
        time.sleep(0.2)
    return status


LOG_LINES = 90_000  # 6.4 MB of log: more than FLARE's 5 MiB get_job_logs limit


def log_line(i: int) -> str:
    return f"line {i:07d} {'.' * 60}\n"


def ids_of(rec: Recorder) -> Callable[[Any], dict[str, Any]]:
    """A note with which jobs a listing returned, in order (as placeholders)."""
    return lambda rows: {"ids": [rec.normalise(r["job_id"]) for r in rows]}


def long_log_steps(rec: Recorder, sess: Any, job_id: str, server_root: str) -> None:
    """get_job_logs on a log over FLARE's limit, written where both servers keep a job's live log."""
    log_dir = os.path.join(server_root, job_id)
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, "log.txt"), "w") as log:
        log.writelines(log_line(i) for i in range(LOG_LINES))
    last = log_line(LOG_LINES - 1)

    def shape(logs: dict[str, Any]) -> dict[str, Any]:
        text = logs["logs"]["server"]
        first, _, rest = text.partition("\n")
        return {"marker": first.startswith("... output truncated to last "),
                "ends_with_the_last_line": text.endswith(last),
                "kept_part_starts_with_a_whole_line": rest.startswith("line ") and rest[:13] + "." * 60 + "\n"
                == rest.split("\n", 1)[0] + "\n"}

    rec.step("get_job_logs over the limit", lambda: sess.get_job_logs(job_id), note=shape)
    rec.step("get_job_logs over the limit, tail_lines=2", lambda: sess.get_job_logs(job_id, tail_lines=2),
             compare_value=True)
    rec.step("get_job_logs over the limit, grep the end",
             lambda: sess.get_job_logs(job_id, grep_pattern=f"line {LOG_LINES - 1:07d}"), compare_value=True)
    rec.step("get_job_logs over the limit, grep the start",
             lambda: sess.get_job_logs(job_id, grep_pattern="line 0000000 "), compare_value=True)


def run(api_name: str, user: str, kit: str, job: str, server_root: str | None = None) -> dict[str, Any]:
    api, spec = load_api(api_name)
    rec = Recorder()
    scratch = tempfile.mkdtemp(prefix="conformance-")
    rec.name(scratch, "<scratch>")
    rec.name(os.path.abspath(kit), "<kit>")
    rec.step("module functions", lambda: {name: callable(getattr(api, name, None)) for name in MODULE_FUNCTIONS},
             compare_value=True)
    sess = rec.step("new_secure_session", lambda: api.new_secure_session(user, kit, timeout=30))
    if sess is None:
        return {"api": api_name, "steps": rec.steps}
    try:
        scenario(rec, sess, spec, job, scratch, server_root)
    except Exception:
        rec.steps.append({"step": "scenario aborted", "outcome": "raised", "exception": traceback.format_exc()})
    finally:
        rec.step("close", sess.close)
    return {"api": api_name, "steps": rec.steps}


def scenario(rec: Recorder, sess: Any, spec: Any, job: str, scratch: str, server_root: str | None) -> None:
    rec.step("Session public names", lambda: sorted(n for n in dir(type(sess)) if not n.startswith("_")),
             compare_value=True)
    rec.step("get_system_info", sess.get_system_info,
             note=lambda info: {"server_status": info.server_info.status,
                                "client_names": sorted(c.name for c in info.client_info),
                                "job_info_len": len(info.job_info)})
    rec.step("get_connected_client_list", sess.get_connected_client_list,
             note=lambda clients: {"names": sorted(c.name for c in clients)})
    rec.step("check_status server", lambda: sess.check_status("server"))
    rec.step("check_status client", lambda: sess.check_status("client"))
    rec.step("check_status all", lambda: sess.check_status("all"))
    rec.step("api.do_command", lambda: sess.api.do_command("check_status server"))
    rec.step("get_client_job_status (idle)", sess.get_client_job_status)
    rec.step("get_available_apps_to_upload", sess.get_available_apps_to_upload)

    job_id = rec.step("submit_job", lambda: sess.submit_job(job))
    if not job_id:
        return
    rec.name(job_id, "<job>")
    seen: list[str] = []

    def cb(session: Any, jid: str, meta: dict[str, Any], statuses: list[str]) -> bool:
        if not statuses or statuses[-1] != meta["status"]:
            statuses.append(meta["status"])
        return True

    rec.step("monitor_job", lambda: sess.monitor_job(job_id, 180, 0.5, cb, seen), compare_value=True,
             note=lambda _: {"final_status_seen": seen[-1] if seen else None,
                             "cb_meta_keys": sorted(sess.get_job_meta(job_id))})
    rec.step("get_job_meta", lambda: sess.get_job_meta(job_id),
             note=lambda meta: {"status": meta.get("status"), "value_types": {k: type(v).__name__
                                                                              for k, v in sorted(meta.items())}})
    rec.step("get_job_status", lambda: sess.get_job_status(job_id), compare_value=True)

    rec.step("list_jobs", sess.list_jobs)
    rec.step("list_jobs detailed", lambda: sess.list_jobs(detailed=True))
    rec.step("list_jobs limit=1", lambda: sess.list_jobs(limit=1), note=ids_of(rec))
    rec.step("list_jobs id_prefix", lambda: sess.list_jobs(id_prefix=job_id[:8]),
             note=lambda rows: {"ids": [rec.normalise(r["job_id"]) for r in rows]})
    rec.step("list_jobs name_prefix", lambda: sess.list_jobs(name_prefix="no-job-has-this-name"), compare_value=True)
    rec.step("list_jobs reverse", lambda: sess.list_jobs(reverse=True))

    rec.step("get_job_logs", lambda: sess.get_job_logs(job_id),
             note=lambda logs: {"logs_keys": sorted(logs.get("logs", {})) if isinstance(logs, dict) else None})
    rec.step("download_job_result", lambda: sess.download_job_result(job_id, scratch), compare_value=True,
             note=lambda path: {"entries": sorted(os.listdir(path)) if path and os.path.isdir(path) else None})
    if server_root:
        long_log_steps(rec, sess, job_id, server_root)

    rec.step("list_job_components", lambda: sess.list_job_components(job_id), compare_value=True)
    rec.step("download_job_components", lambda: sess.download_job_components(job_id),
             note=lambda path: {"entries": sorted(os.listdir(path)) if path and os.path.isdir(path) else None})
    rec.step("show_stats finished job", lambda: sess.show_stats(job_id, "server"))
    rec.step("show_errors finished job", lambda: sess.show_errors(job_id, "server"))
    rec.step("abort_job finished job", lambda: sess.abort_job(job_id), compare_value=True)

    clone = rec.step("clone_job", lambda: sess.clone_job(job_id))
    if clone:
        rec.name(clone, "<clone>")
        # Only cloned_from: which other keys a fresh job has depends on how far scheduling got.
        rec.step("get_job_meta clone: cloned_from", lambda: sess.get_job_meta(clone).get("cloned_from"),
                 compare_value=True)
        rec.step("clone reaches RUNNING", lambda: wait_for_status(sess, clone, lambda s: s == "RUNNING" or s.startswith(TERMINAL), 90),
                 compare_value=True)
        # target_type all (FLARE 2.9's _VALID_TARGET_TYPES): the server's part and every site's, by target. FLARE
        # answers "no such job" in a RUNNING job's first seconds (its server part not up yet): waited out first.
        answers(lambda: sess.show_stats(clone, "server"), 30)
        rec.step("show_stats running job, all", lambda: sess.show_stats(clone, "all"))
        rec.step("show_errors running job, all", lambda: sess.show_errors(clone, "all"))
        rec.step("get_client_job_status (running)", sess.get_client_job_status)
        # Which jobs a limited listing returns, and in what order: FLARE keeps the most recent.
        rec.step("list_jobs limit=1, two jobs", lambda: sess.list_jobs(limit=1), note=ids_of(rec))
        rec.step("list_jobs limit=2", lambda: sess.list_jobs(limit=2), note=ids_of(rec))
        rec.step("list_jobs limit=1 reverse", lambda: sess.list_jobs(limit=1, reverse=True), note=ids_of(rec))
        rec.step("list_jobs name_prefix upper case", lambda: sess.list_jobs(name_prefix="HELLO"), note=ids_of(rec))
        # Commands FLARE refuses on a running job: the exception class, and nothing written.
        refused = os.path.join(scratch, "refused-download")
        rec.step("download_job_result running job", lambda: sess.download_job_result(clone, refused))
        rec.step("refused download wrote nothing", lambda: os.path.exists(refused), compare_value=True)
        rec.step("delete_job running job", lambda: sess.delete_job(clone))
        rec.step("running job still listed", lambda: sess.get_job_status(clone), compare_value=True)
        rec.step("abort_job running job", lambda: sess.abort_job(clone), compare_value=True)
        rec.step("aborted job final status",
                 lambda: wait_for_status(sess, clone, lambda s: s.startswith(TERMINAL), 120), compare_value=True)
        rec.step("delete_job", lambda: sess.delete_job(clone))
        rec.step("get_job_meta deleted job", lambda: sess.get_job_meta(clone))

    rec.step("report_version server", lambda: sess.report_version("server"))
    rec.step("report_version client", lambda: sess.report_version("client"))
    rec.step("report_resources client", lambda: sess.report_resources("client"),
             note=lambda res: {"site_value": rec.describe(res.get(SITE), False) if isinstance(res, dict) else None})
    rec.step("get_client_env", lambda: sess.get_client_env())
    rec.step("ls_target server", lambda: sess.ls_target("server"))
    rec.step("ls_target site", lambda: sess.ls_target(SITE))
    rec.step("get_working_directory server", lambda: sess.get_working_directory("server"))
    rec.step("tail_target_log server", lambda: sess.tail_target_log("server"))
    rec.step("head_target_log site", lambda: sess.head_target_log(SITE))
    rec.step("grep_target server", lambda: sess.grep_target("server", pattern="no-line-has-this", file="log.txt"),
             compare_value=True)
    rec.step("cat_target missing file", lambda: sess.cat_target("server", file="nope.txt"), compare_value=True)
    rec.step("ls_target unknown target", lambda: sess.ls_target("site-99"))

    rec.step("get_job_meta unknown job", lambda: sess.get_job_meta(MISSING_JOB))
    rec.step("get_job_status unknown job", lambda: sess.get_job_status(MISSING_JOB))
    rec.step("abort_job unknown job", lambda: sess.abort_job(MISSING_JOB))
    rec.step("clone_job unknown job", lambda: sess.clone_job(MISSING_JOB))
    rec.step("delete_job unknown job", lambda: sess.delete_job(MISSING_JOB))
    rec.step("download_job_result unknown job", lambda: sess.download_job_result(MISSING_JOB, scratch))
    rec.step("get_job_logs unknown job", lambda: sess.get_job_logs(MISSING_JOB))
    rec.step("submit_job missing folder", lambda: sess.submit_job(os.path.join(scratch, "missing-job")))
    empty = os.path.join(scratch, "empty-job")
    os.makedirs(empty)
    rec.step("submit_job folder without meta.json", lambda: sess.submit_job(empty))
    broken = os.path.join(scratch, "broken-job")
    os.makedirs(broken)
    with open(os.path.join(broken, "meta.json"), "w") as meta_file:
        meta_file.write("{not json")
    rec.step("submit_job unreadable meta.json", lambda: sess.submit_job(broken))
    rec.step("disable_client", lambda: sess.disable_client("site-2"))
    rec.step("check_status client (one disabled)", lambda: sess.check_status("client"), compare_value=True)
    rec.step("enable_client", lambda: sess.enable_client("site-2"))
    rec.step("list_jobs after errors", lambda: sess.list_jobs(id_prefix=job_id[:8]),
             note=lambda rows: {"count": len(rows)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", choices=("nvflare", "console"), required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--kit", required=True)
    parser.add_argument("--job", required=True, help="a numpy FedAvg job folder for this system")
    parser.add_argument("--out", required=True)
    parser.add_argument("--server-root", help="the server's workspace, where a job's live log.txt is kept")
    args = parser.parse_args()
    record = run(args.api, args.user, args.kit, args.job, args.server_root)
    with open(args.out, "w") as out:
        json.dump(record, out, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
