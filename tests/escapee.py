"""A job whose code leaves an escapee under PID 1, and a server of its workspace that starts again at once.

Shared by tests/test_job_confinement.py (the next daemon of the workspace ends the escapee, another
workspace's leaves it be) and benchmarks/trace_leftover_sweeps.py (who ends it, traced).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from conftest import EXAMPLES, PartProcess, ServerProcess

_CONTROLLER = '''
import os, subprocess, sys
from pathlib import Path

# In a session of its own with an empty environment: its pid in PIDFILE, then it ends the daemon and
# this job process, then lives on (5 minutes), TOKEN in its command line. The job process is stopped
# first (every thread of it), then both are SIGKILLed: left to run between the two kills, the job
# process sees its daemon gone (its stdin closes) and ends what its job started, this escapee with it,
# 7 to 33 ms after the daemon's kill: a loaded machine that preempted the escapee there made that
# happen in 5 of 40 runs (session 11, traced with perf), which the test took for another daemon's sweep.
# (Not stopped first when STOP_FIRST is False: the trace's ``--order kill``, as a hostile job would.)
ESCAPEE = ("import os, signal, sys, time\\n"
           "from pathlib import Path\\n"
           "daemon, job, pidfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]\\n"
           "open(pidfile + '.tmp', 'w').write(str(os.getpid())); os.rename(pidfile + '.tmp', pidfile)\\n"
           "def stopped():\\n"
           "    try:\\n"
           "        return all((t / 'stat').read_text().rsplit(')', 1)[1].split()[0] in 'Tt'\\n"
           "                   for t in Path(f'/proc/{{job}}/task').iterdir())\\n"
           "    except OSError:\\n"
           "        return False\\n"
           "if {stop_first!r}:\\n"
           "    os.kill(job, signal.SIGSTOP)\\n"
           "    deadline = time.monotonic() + 20\\n"
           "    while not stopped() and time.monotonic() < deadline:\\n"
           "        time.sleep(0.001)\\n"
           "os.kill(daemon, signal.SIGKILL); os.kill(job, signal.SIGKILL)\\n"
           "time.sleep(300)\\n")


def run(ctx):
    subprocess.Popen([sys.executable, "-c", ESCAPEE, str(os.getppid()), str(os.getpid()), {pidfile!r}, {token!r}],
                     env={{}}, start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    ctx.sleep(60)
'''
#: ``flare-console server KIT`` once TRIGGER exists, its imports done before: the server started again
#: sweeps within milliseconds of the first one's death, not after a process start (~0.5 s).
_SERVER_ON_TRIGGER = ("import os, sys, time\n"
                      "import console.cli, console.server.app, console.runtime.adoption, console.process\n"
                      "kit, trigger = sys.argv[1:]\n"
                      "while not os.path.exists(trigger):\n"
                      "    time.sleep(0.002)\n"
                      "sys.argv = ['flare-console', 'server', kit]\n"
                      "sys.exit(console.cli.run())\n")


def escapee_job(root: Path, pidfile: Path, token: str = "", stop_first: bool = True) -> Path:
    """A copy of examples/hello-server, ``root/killtree``, whose server app starts an escapee (its pid
    written to ``pidfile``, ``token`` in its command line) that SIGKILLs the server and the job process
    (the job process stopped first with ``stop_first``), then lives on under PID 1 for 5 minutes."""
    folder = root / "killtree"
    shutil.copytree(EXAMPLES / "hello-server", folder)
    (folder / "app" / "custom" / "killtree.py").write_text(_CONTROLLER.format(pidfile=str(pidfile), token=token,
                                                                              stop_first=stop_first))
    (folder / "app" / "config" / "config_fed_server.json").write_text('{"controller": "killtree:run", "args": {}}')
    return folder


def server_on_trigger(kit: Path, trigger: Path) -> PartProcess:
    """A server of ``kit`` that starts (``start(wait=False)`` first) once ``trigger`` exists, its imports
    done before; its stderr in ``again-stderr.txt`` of the kit."""
    again = ServerProcess(kit)
    again.argv = [sys.executable, "-c", _SERVER_ON_TRIGGER, str(kit), str(trigger)]
    again.stderr_path = kit / "again-stderr.txt"
    return again
