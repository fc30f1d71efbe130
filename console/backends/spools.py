"""How far a download has come, read from the files it is being written to: the console's display only.

A download's bytes land in spool files as they arrive: ours in ``DEST/.flare-download-*/result.zip``
(``AsyncSession.download_job_result``); FLARE 2.9's in a file named by a UUID in the temporary folder
(``file_downloader._ChunkConsumer``), moved when complete to ``DOWNLOAD_DIR/<job_id>__<tx_id>/`` and
unzipped there (``FileTransferModule.pull_binary_file``). Reading their sizes tells the console the bytes
received so far without touching either engine's transfer. Owns only that reading.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

#: Bytes received so far (never less than an earlier answer), 0 before anything arrived.
Probe = Callable[[], int]

#: A UUID's text, as a glob: FLARE's download spool file names.
UUID_GLOB = "-".join("[0-9a-f]" * n for n in (8, 4, 4, 4, 12))


def spool_probe(*places: tuple[Path, str]) -> Probe:
    """Sizes of the files matching each ``(folder, glob)`` written since now.

    Files last written before this call belong to other downloads and are left out. The answer never
    goes down: an engine moves or removes its spool files once they are complete or unpacked.
    """
    started = time.time() - 1.0  # a file's mtime may lag the clock by a tick
    most = 0

    def received() -> int:
        nonlocal most
        total = 0
        for folder, pattern in places:
            with contextlib.suppress(OSError):
                for part in folder.glob(pattern):
                    with contextlib.suppress(OSError):
                        stat = part.stat()
                        if stat.st_mtime >= started:
                            total += stat.st_size
        most = max(most, total)
        return most

    return received
