"""A late Ctrl-C on NVIDIA FLARE: seconds from Ctrl-C to the prompt, and to the command's outcome.

    python benchmarks/flare_late_ctrl_c.py [--runs N] [--before GIT_REV]    # starts a FLARE POC (nvflare_peer)

The interactive console (in a pty, FLARE's venv) submits a job with 40 MB of custom code; once
FLARE's submit runs (its staging copy exists) Ctrl-C is sent, which cannot stop it. Timed: Ctrl-C
to the next prompt, and Ctrl-C to the line with the new job's ID. Run for this checkout and for
GIT_REV (default: the commit before the late Ctrl-C change, where the prompt waited for FLARE's
call), each N times; medians. The submitted jobs are aborted.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
JOB = REPO / "examples" / "hello-numpy-sag"
PROMPT = re.compile(r"(\x1b\[[0-9;]*m)*server(\x1b\[[0-9;]*m)*> ")
OUTCOME = re.compile(r"submitted as ([0-9a-f-]{36})")


def _one(python: str, env: dict[str, str], kit: Path, big: Path, scratch: Path) -> tuple[float, float]:
    # Run from the code's folder: ``python -m`` puts the working directory first on the path.
    shell = pexpect.spawn(python, ["-m", "console", "--kit", str(kit)], env=env, encoding="utf-8", timeout=120,
                          dimensions=(40, 160), cwd=env["PYTHONPATH"])
    try:
        shell.expect(PROMPT, timeout=60)
        shell.send(f"submit_job {big}\r")
        deadline = time.monotonic() + 60
        while not list(scratch.glob("flare-console-submit-*")):
            assert time.monotonic() < deadline, "FLARE's submit never started"
            time.sleep(0.005)
        _drain(shell)  # the echoed command line ends with the prompt's text too
        shell.sendcontrol("c")
        began = time.monotonic()
        seen = ""
        while not (OUTCOME.search(seen) or "goes on" in seen):  # not a redraw of the prompt under the line
            shell.expect(PROMPT)
            seen += shell.before
        prompt = time.monotonic() - began
        found = OUTCOME.search(seen)
        if found is None:
            shell.expect(OUTCOME)
            found = shell.match
        outcome = time.monotonic() - began
        job = found.group(1)
        shell.send(f"abort_job {job[:8]} --yes\r")
        shell.expect(PROMPT)
        shell.send("bye\r")
        shell.expect(pexpect.EOF, timeout=30)
        return prompt, outcome
    finally:
        if shell.isalive():
            shell.terminate(force=True)


def _drain(shell: pexpect.spawn) -> None:
    while True:
        try:
            shell.read_nonblocking(1 << 20, timeout=0.05)
        except pexpect.TIMEOUT:
            return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", default="2d9e48a", help="git revision to compare with")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from nvflare_peer import running_poc

    with tempfile.TemporaryDirectory(prefix="late-ctrl-c-") as tmp, \
            running_poc(log=lambda message: print(message, file=sys.stderr)) as poc:
        root = Path(tmp)
        before = root / "before"
        before.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before, "console", "themes"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        big = root / "big-job"
        subprocess.run(["cp", "-r", str(JOB), str(big)], check=True)
        (big / "app" / "custom").mkdir(exist_ok=True)
        (big / "app" / "custom" / "weights.bin").write_bytes(os.urandom(40 << 20))
        rows = []
        for name, code in ((f"before ({args.before})", before), ("after (this checkout)", REPO)):
            scratch = root / f"tmp-{code.name}"
            scratch.mkdir()
            env = {k: v for k, v in poc.env.items() if k not in ("FLARE_KIT", "PAGER")}
            env.update(HOME=str(root), XDG_CONFIG_HOME=str(root / "config"), XDG_DATA_HOME=str(root / "data"),
                       PYTHONPATH=str(code), TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1", NO_COLOR="1",
                       TMPDIR=str(scratch))
            samples = [_one(str(poc.python), env, poc.admin_kit, big, scratch) for _ in range(args.runs)]
            rows.append((name, statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)))
    print(f"{'console':<28} {'Ctrl-C to prompt':>17} {'Ctrl-C to outcome':>18}")
    for name, prompt, outcome in rows:
        print(f"{name:<28} {prompt * 1000:>14.1f} ms {outcome * 1000:>15.1f} ms")
    print(f"(medians of {args.runs} runs; submit_job with 40 MB of custom code, FLARE 2.9 POC on loopback)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
