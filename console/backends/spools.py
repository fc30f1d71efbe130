"""How far a download has come, read from the files it is being written to: the console's display only.

A download's bytes land in a spool file as they arrive: ours in ``DEST/.flare-download-*/result.zip``
(``AsyncSession.download_job_result``), FLARE 2.9's in ``DOWNLOAD_DIR/<job_id>__<tx_id>/*.zip``
(its ``FileTransferModule.pull_binary_file``) before it unzips them. Reading their sizes tells the
console the bytes received so far without touching either engine's transfer. Owns only that reading.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

#: Bytes received so far (never less than an earlier answer), 0 before anything arrived.
Probe = Callable[[], int]


def spool_probe(folder: Path, spools: str, files: str) -> Probe:
    """Sizes of ``files`` (a glob) in the folders ``spools`` (a glob) of ``folder`` made since now.

    Spools older than this call belong to other downloads and are left out. The answer never goes
    down: an engine removes its spool files once they are unpacked.
    """
    started = time.time() - 1.0  # a folder's mtime may lag the clock by a tick
    most = 0

    def received() -> int:
        nonlocal most
        total = 0
        with contextlib.suppress(OSError):
            for spool in folder.glob(spools):
                with contextlib.suppress(OSError):
                    if spool.stat().st_mtime < started:
                        continue
                    for part in spool.glob(files):
                        with contextlib.suppress(OSError):
                            total += part.stat().st_size
        most = max(most, total)
        return most

    return received
