"""Ending the ``flare-console`` process once its own work is done, without waiting for library threads.

NVIDIA FLARE's Session runs its connection on thread pools of its own (``concurrent.futures``, whose
threads are not daemons). With FLARE's server gone, a login or reconnect under way keeps them
retrying with back-off, and Python's exit joins every such thread: leaving the console (or the FLARE
demo) took 16-40 s after the server had stopped. FLARE's own processes end the same way
(``nvflare/fuel/f3/mpm.py``: ``os._exit`` when threads are still running at the end).

Owns only the process's last step, for the program (``python -m console``, the ``flare-console``
script), never for a caller of ``console.cli.main`` in its own process, and only once FLARE's library
was loaded (our server and site daemons end as Python ends, waiting for their threads). What must be
done before it (FLARE sessions logged out, the POC stopped, monitors ended) is done by then.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

#: Seconds the process waits for threads still running once the console is done. Short: FLARE's logouts
#: were waited for already (``FlareBackend.close``), and its idle pool threads never end by themselves
#: (Python's own exit wakes them; this one does not wait for that).
GRACE = 0.1


def end(code: int, grace: float = GRACE) -> int:
    """``code``, once the threads still running (daemons too) have ended within ``grace`` s; when some have not
    (FLARE's, with its server unreachable or its reconnect under way), the process ends at once with ``code`` instead, after
    flushing its output and logs. Without FLARE's library loaded, ``code`` at once: Python's exit waits as usual."""
    if "nvflare" not in sys.modules:
        return code
    deadline = time.monotonic() + grace
    for thread in threading.enumerate():
        if thread is not threading.main_thread():
            thread.join(max(deadline - time.monotonic(), 0))
    # Daemon threads count too: Python's exit joins every thread of a concurrent.futures pool, daemon or not
    # (``_python_exit``), and a pool FLARE's login made on our daemon login thread has daemon threads. One of
    # them holds FLARE's reconnect for as long as the connection lives: leaving the console hung in Python's
    # exit, 3 rounds in 10 under load (its stacks: ``_python_exit`` joining ``aio_http_driver.connect``).
    if not any(t.is_alive() and t is not threading.main_thread() for t in threading.enumerate()):
        return code
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more reaches it anyway
            pass
    logging.shutdown()
    os._exit(code)
