"""FLARE's own monitoring facility, timed: ``Session.monitor_job(job_id)`` at its default poll_interval.

    python peer_monitor.py --user U --kit KIT --job FOLDER     # in FLARE's venv (peer_consoles.py runs it)

Submits the job, follows it with FLARE API's ``monitor_job`` (FLARE 2.9: poll_interval 2.0 s
unless given), and prints one JSON line: when the watch began and ended (``time.time()``) and
the seconds from the final status the server wrote to ``monitor_job`` returning. Needs only the
standard library and FLARE.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import time

from nvflare.fuel.flare_api.flare_api import Session, new_secure_session
from timing import finish_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", required=True)
    parser.add_argument("--kit", required=True)
    parser.add_argument("--job", required=True)
    args = parser.parse_args()
    with contextlib.redirect_stderr(io.StringIO()):  # FLARE's "Connecting to FLARE ..." line
        sess = new_secure_session(args.user, args.kit, timeout=30)
    try:
        job_id = sess.submit_job(args.job)
        began = time.time()
        sess.monitor_job(job_id, timeout=300)  # FLARE's default poll_interval
        seen = time.time()
        meta = sess.get_job_meta(job_id)
    finally:
        sess.close()
    default = inspect.signature(Session.monitor_job).parameters["poll_interval"].default
    print(json.dumps({"job_id": job_id, "began": began, "seen": seen, "latency": seen - finish_time(meta),
                      "poll_interval": default, "status": meta["status"]}))


if __name__ == "__main__":
    main()
