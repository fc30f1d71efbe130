"""Conformance: the FLARE API scenario against NVIDIA FLARE and against flare-console, compared.

    python benchmarks/conformance.py             # both live (installs NVFlare once); writes
                                                 # docs/compatibility.md and the recorded peer run,
                                                 # then the job definition corpus (jobdef_conformance.py)
    python benchmarks/conformance.py --recorded  # ours live against NVFlare's recorded run
    python benchmarks/conformance.py --check     # both live, nothing written (the FLARE_PEER=1 test)

Every difference in return type, dict keys, status strings or exception class is listed. A
difference is either fixed or explained in ``EXPLAINED``; an unexplained one makes the exit code 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nvflare_peer import NVFLARE_VERSION, running_poc
from peer_jobs import sag_job

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "conformance_scenario.py"
RECORDED = HERE / "data" / f"nvflare-{NVFLARE_VERSION}-conformance.json"
REPORT = HERE.parent / "docs" / "compatibility.md"
KEEP_FROM = "<!-- jobdefs:begin -->"
# Compared per step; timings and human wording are shown, not compared.
NOT_COMPARED = {"step", "seconds", "message"}
# Long enough on both systems that the cloned job is still running when the scenario aborts it.
ROUNDS, SLEEP = 3, 1.0

_NO_COMPONENTS = ("ours stores no separate job components (FLARE's are extras such as a site's ERRORLOG): "
                  "download_job_result already holds every site's workspace, its logs included.")
_ABSENT_NAMES = (
    "every FLARE name is there. Those our server has no counterpart for (the study commands: ours has one "
    "study, `default`; configure_job_log/configure_site_log: log levels are fixed, INFO to each workspace's "
    "log.txt; do_command/do_app_command: FLARE's raw admin-protocol replies, where ours has a typed method for "
    "every command; list/download_job_components) check their arguments as FLARE does, then raise FLARE's "
    "CommandError (error_code COMMAND_NOT_SUPPORTED) saying what our engine lacks. Extra in ours: `client` "
    "(the asyncio client under the session) and `sys_info` (FLARE's console command of that name, as a method).")
_NO_COMPONENTS_RAISED = ("ours raises FLARE's CommandError (COMMAND_NOT_SUPPORTED): " + _NO_COMPONENTS)
_OWN_API = ("`api`: FLARE's Session holds its AdminAPI there (FLARE scripts call `sess.api.do_command(...)`, which "
            "answers in FLARE's admin-protocol packaging). Our server speaks no FLARE command lines, so ours holds "
            "an object whose do_command raises FLARE's CommandError (COMMAND_NOT_SUPPORTED) naming the Session "
            "method that does that command (a Session made with FLARE's kit holds FLARE's own AdminAPI). "
            "FLARE's other public attributes are all there.")

# (step, aspect) -> why ours differs on purpose; aspect "*" covers every aspect of the step.
# Keep each reason short and true.
EXPLAINED: dict[tuple[str, str], str] = {
    ("Session public names", "len"): "see the next row.",
    ("Session public names", "value"): _ABSENT_NAMES,
    ("list_job_components", "*"): _NO_COMPONENTS_RAISED,
    ("download_job_components", "*"): _NO_COMPONENTS_RAISED,
    ("new_secure_session", "attrs"): _OWN_API,
    ("api.do_command", "*"): _OWN_API,
    ("download_job_result", "entries"):
        "ours adds `sites/<site>/`, each site's job workspace (its log.txt and app) collected when the job "
        "ends; FLARE leaves those on the sites.",
    ("get_job_logs over the limit", "kept_part_starts_with_a_whole_line"):
        "both keep the newest 5 MiB behind a marker line; FLARE cuts at a byte, so its first kept line is "
        "half a line; ours starts at the next whole line and its marker also says how many bytes were cut.",
    ("get_job_logs over the limit, grep the start", "value"):
        "FLARE filters only the 5 MiB it kept, so a match in the older part of a long log is lost; ours "
        "applies grep_pattern to the whole log (and keeps the newest 5 MiB of matches).",
}


@dataclass
class Difference:
    step: str
    aspect: str
    theirs: object
    ours: object

    @property
    def reason(self) -> str | None:
        return EXPLAINED.get((self.step, self.aspect)) or EXPLAINED.get((self.step, "*"))


def run_scenario(python: str, api: str, user: str, kit: Path, job: Path, out: Path, server_root: Path,
                 env=None) -> dict:
    done = subprocess.run([python, str(SCENARIO), "--api", api, "--user", user, "--kit", str(kit),
                           "--job", str(job), "--out", str(out), "--server-root", str(server_root)], env=env,
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"the scenario failed against {api}:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def observe_nvflare(scratch: Path) -> dict:
    job = sag_job(scratch / "job", ROUNDS, SLEEP)
    with running_poc() as peer:
        return run_scenario(str(peer.python), "nvflare", peer.admin, peer.admin_kit, job,
                            scratch / "nvflare.json", peer.prod / "server", env=peer.env)


def observe_ours(scratch: Path) -> dict:
    from common import ADMIN, make_project, running_server

    job = sag_job(scratch / "job", ROUNDS, SLEEP)
    prod = make_project(scratch)
    with running_server(prod, ("site-1", "site-2")):
        return run_scenario(sys.executable, "console", ADMIN, prod / ADMIN, job, scratch / "ours.json",
                            prod / "server")


def compare(theirs: dict, ours: dict) -> list[Difference]:
    ours_by_step = {s["step"]: s for s in ours["steps"]}
    theirs_by_step = {s["step"]: s for s in theirs["steps"]}
    diffs = []
    for step, their in theirs_by_step.items():
        mine = ours_by_step.get(step)
        if mine is None:
            diffs.append(Difference(step, "step", "ran", "missing"))
            continue
        for aspect in sorted((set(their) | set(mine)) - NOT_COMPARED):
            if their.get(aspect) != mine.get(aspect):
                diffs.append(Difference(step, aspect, their.get(aspect), mine.get(aspect)))
    diffs += [Difference(step, "step", "missing", "ran") for step in ours_by_step if step not in theirs_by_step]
    return diffs


def _names_diff(theirs: object, ours: object) -> str | None:
    """For two lists of names: what only one side has (a full listing would hide it)."""
    if not (isinstance(theirs, list) and isinstance(ours, list)
            and all(isinstance(v, str) for v in theirs + ours)):
        return None
    only_theirs = sorted(set(theirs) - set(ours))
    only_ours = sorted(set(ours) - set(theirs))
    return f"only NVFlare: {', '.join(only_theirs) or '—'}; only ours: {', '.join(only_ours) or '—'}"


def _cell(value: object) -> str:
    text = "—" if value is None else json.dumps(value) if not isinstance(value, str) else value
    return text.replace("|", "\\|").replace("\n", " ")[:160]


def write_report(theirs: dict, ours: dict, diffs: list[Difference]) -> None:
    ours_by_step = {s["step"]: s for s in ours["steps"]}
    differing = {d.step for d in diffs}
    lines = [
        f"# Compatibility with NVIDIA FLARE {NVFLARE_VERSION}'s FLARE API",
        "",
        "Generated by `make bench-peer` (`benchmarks/conformance.py`): do not edit by hand, except the rule",
        "lists after the job definition corpus, which the generators keep.",
        "",
        "One scenario (`benchmarks/conformance_scenario.py`) is written once against the FLARE API and",
        "run unchanged through `nvflare.fuel.flare_api` against a real NVFlare POC (server + 2 sites) and",
        "through `console.flare_api` against flare-console, with the same job folder on both (FLARE's",
        "hello-numpy-sag: `examples/hello-numpy-sag`, 3 rounds, NPTrainer sleeping 1 s per task). Each step's return type, dict keys, list item",
        "keys, status strings and exception class are compared, and values wherever they are deterministic",
        "(which jobs a limited listing returns and in what order, the exception class of every refused state,",
        "log truncation markers, tail and grep results); timings and message wording are shown but not",
        "compared. Job IDs and scratch paths are replaced by placeholders.",
        "",
        f"Steps: {len(theirs['steps'])}; identical on both: {len(theirs['steps']) - len(differing & {s['step'] for s in theirs['steps']})}; "
        f"differences: {len(diffs)} ({sum(1 for d in diffs if d.reason is None)} unexplained).",
        "",
        "## Differences",
        "",
        "| step | aspect | NVFlare | flare-console | why |",
        "|---|---|---|---|---|",
    ]
    for d in diffs:
        names = _names_diff(d.theirs, d.ours)
        cells = (names, "(see left)") if names else (_cell(d.theirs), _cell(d.ours))
        lines.append(f"| {d.step} | {d.aspect} | {cells[0]} | {cells[1]} | {d.reason or '**unexplained**'} |")
    lines += ["", "## Every step", "", "| step | NVFlare | flare-console | NVFlare s | ours s |", "|---|---|---|---|---|"]
    for their in theirs["steps"]:
        mine = ours_by_step.get(their["step"], {})
        lines.append(f"| {their['step']} | {_cell(_summary(their))} | {_cell(_summary(mine))} | "
                     f"{their.get('seconds', '')} | {mine.get('seconds', '')} |")
    # The job definition corpus (jobdef_conformance.py) and the hand-written rule lists follow; keep them.
    old = REPORT.read_text() if REPORT.exists() else ""
    kept = old[old.index(KEEP_FROM):] if KEEP_FROM in old else ""
    REPORT.write_text("\n".join(lines) + "\n" + ("\n" + kept if kept else ""))


def _summary(step: dict) -> str:
    if not step:
        return "missing"
    if step.get("outcome") == "raised":
        return f"raises {step.get('exception')}: {step.get('message', '')}"
    value = step.get("value")
    return step.get("type", "") + (f" {json.dumps(value)}" if value is not None else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recorded", action="store_true", help="compare ours with NVFlare's recorded run")
    parser.add_argument("--check", action="store_true", help="live, but write neither the report nor the record")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        scratch = Path(tmp)
        if args.recorded:
            theirs = json.loads(RECORDED.read_text())
        else:
            (scratch / "nvflare").mkdir()
            theirs = observe_nvflare(scratch / "nvflare")
            if not args.check:
                RECORDED.parent.mkdir(exist_ok=True)
                RECORDED.write_text(json.dumps(theirs, indent=1, sort_keys=True) + "\n")
        (scratch / "ours").mkdir()
        ours = observe_ours(scratch / "ours")
    diffs = compare(theirs, ours)
    if not (args.recorded or args.check):
        write_report(theirs, ours, diffs)
    for d in diffs:
        shown = _names_diff(d.theirs, d.ours) or f"NVFlare {d.theirs} | ours {d.ours}"
        print(f"{'  ' if d.reason else '!!'} {d.step}: {d.aspect}: {shown}")
    unexplained = [d for d in diffs if d.reason is None]
    print(f"{len(diffs)} differences, {len(unexplained)} unexplained")
    corpus = 0
    if not (args.recorded or args.check):  # the job definition corpus too: FLARE's verdicts, then ours
        corpus = subprocess.call([sys.executable, str(HERE / "jobdef_conformance.py"), "--record"], cwd=HERE)
    return 1 if unexplained or corpus else 0


if __name__ == "__main__":
    sys.exit(main())
