"""The security tester's login flood (session 12): a site's key logs in again and again, each login answer
claiming 1,200 made-up running jobs (about what 64 KiB holds), on our server: how long the logins take,
what the server's log.txt gains, how many lines about the claims are written, and an admin's check_status
round trip meanwhile.

Before ``console/server/site_claims.py``, the server wrote a "still runs job" line and sent an abort_job
for each claimed job (the tester: 125 logins in 20 s, 7.8 MB of log.txt); now a login's claims of jobs
the server never sent that site are one line, summed up per site past 10 a period.

usage: python benchmarks/bench_login_claims.py [--logins N]"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
import uuid

from console.flare_api import new_secure_session
from console.wire.frames import encode_frame, read_frame
from console.wire.kit import SiteKit
from console.wire.tls import client_context

from common import ADMIN, make_project, print_table, running_server, scratch

CLAIMS = 1200


async def _log_in(kit: SiteKit, context: object) -> None:
    """One login with ``kit``'s certificate, its answer claiming CLAIMS made-up jobs; then hang up."""
    reader, writer = await asyncio.open_connection(kit.host, kit.fed_learn_port, ssl=context,
                                                   server_hostname=kit.server_identity)
    try:
        frame = await read_frame(reader)
        if frame is None:
            return
        jobs = [{"job_id": str(uuid.uuid4())} for _ in range(CLAIMS)]
        writer.write(encode_frame({"k": "res", "id": frame.header["id"], "ok": True,
                                   "data": {"site": kit.name, "org": kit.org, "jobs": jobs, "features": []}}))
        await writer.drain()
        await asyncio.sleep(0.05)  # read by the server before the link goes
    finally:
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=125)
    logins = parser.parse_args().logins
    with scratch() as root:
        prod = make_project(root)
        log_txt = prod / "server" / "log.txt"
        kit = SiteKit.load(prod / "site-2")
        context = client_context(kit.tls.cert, kit.tls.key, kit.tls.ca, kit.tls.crl)
        with running_server(prod), new_secure_session(ADMIN, str(prod / ADMIN), timeout=30) as session:
            before = log_txt.stat().st_size
            done, answers = threading.Event(), []

            def admin() -> None:
                while not done.is_set():
                    t0 = time.perf_counter()
                    session.check_status("server")
                    answers.append(time.perf_counter() - t0)
                    time.sleep(0.1)

            asking = threading.Thread(target=admin)
            asking.start()
            failed = 0
            started = time.monotonic()

            async def flood() -> int:
                failures = 0
                for _ in range(logins):
                    try:
                        await _log_in(kit, context)
                    except (OSError, asyncio.IncompleteReadError):
                        failures += 1
                return failures

            try:
                failed = asyncio.run(flood())
            finally:
                took = time.monotonic() - started
                done.set()
                asking.join()
        # Stopped: what the server held back is summed up in its log by now.
        added = log_txt.read_bytes()[before:]
        lines = added.decode(errors="replace").splitlines()
        said = sum("said at login" in line and "more line(s)" not in line for line in lines)
        still = sum("still runs job" in line for line in lines)
    print_table(f"{logins} logins of site-2's key, each claiming {CLAIMS} made-up jobs ({took:.1f} s, "
                f"{failed} failed)", [
        ("server log.txt, bytes a login", f"{len(added) / logins:.0f}", "one line about the claims at most", "1"),
        ("lines about the claims written one by one", str(said), "<= 10 a period", "1"),
        ("'still runs job' lines (made-up jobs stopped)", str(still), "0", "1"),
        ("an admin's check_status round trip", f"{statistics.median(answers) * 1000:.1f} ms",
         f"max {max(answers) * 1000:.0f} ms", str(len(answers))),
    ])


if __name__ == "__main__":
    main()
