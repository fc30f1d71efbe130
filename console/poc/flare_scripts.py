"""The Python programs a POC runs in FLARE's interpreter (``python -c``): FLARE is importable there, not here.

Owns their text: ``ABORT_RUNNING`` (every running job aborted with FLARE's ``abort_job`` and waited for
until FLARE lists it ended; argv: admin user, admin kit, seconds) and ``WAIT_FOR_SITES`` (until that many
sites are connected; argv: admin user, admin kit, site count, seconds); each exits non-zero with the
reason on stderr. Must not import nvflare here, nor run anything: ``lifecycle`` runs them.
"""

from __future__ import annotations

# Run in the POC's interpreter. FLARE's admin login challenges the server before its connection
# is up, fails, and retries after a fixed 1 s; a 50 ms retry makes the same login about 1 s faster.
_QUICK_LOGIN = """
import sys, time
from nvflare.fuel.flare_api.flare_api import new_secure_session
try:
    from nvflare.private.fed import authenticator
    _init = authenticator.Authenticator.__init__
    def _quick_retry(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        self.retry_interval = min(self.retry_interval, 0.05)
    authenticator.Authenticator.__init__ = _quick_retry
except (ImportError, AttributeError):
    pass
"""

# The running jobs aborted (FLARE's abort_job) and waited for until FLARE lists each one ended.
ABORT_RUNNING = _QUICK_LOGIN + """
user, kit, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
deadline = time.monotonic() + timeout
sess = new_secure_session(user, kit, timeout=min(timeout, 10))
running = [j["job_id"] for j in sess.list_jobs() if j.get("status") in ("RUNNING", "DISPATCHED")]
for job_id in running:
    try:
        sess.abort_job(job_id)
    except Exception as exc:  # ended meanwhile, or refused: what list_jobs says next counts
        print(f"abort_job {job_id}: {exc}", file=sys.stderr)
while running:
    listed = {j["job_id"]: j.get("status", "") for j in sess.list_jobs()}
    running = [j for j in running if not listed.get(j, "FINISHED").startswith("FINISHED")]
    if running and time.monotonic() > deadline:
        sys.exit(f"still running after {timeout:.0f} s: {', '.join(running)}")
    time.sleep(0.25)
sess.close()
"""

WAIT_FOR_SITES = _QUICK_LOGIN + """
user, kit, sites, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + timeout
sess = new_secure_session(user, kit, timeout=timeout)
while len(sess.get_connected_client_list()) < sites:
    if time.monotonic() > deadline:
        sys.exit(f"only {sess.get_connected_client_list()} of {sites} sites connected after {timeout:.0f} s")
    time.sleep(0.1)
sess.close()
"""
