"""What one job process may use: ``job_process_limits`` in a server's or a site's startup config.

Pure data, read with the kit (``console.wire.kit``) and handed to each job process, which
sets them on itself before the job's code runs (``console.runtime.confine``); the daemon
holds the log budget (``console.runtime.job_output``). Every field is documented, with its
default, in docs/protocol.md ("Limits of a job process").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class ProcessLimits:
    """Per job process (the server's controller, a site's executor), each a whole number > 0.

    ``max_log_bytes``: what the job's output (its prints, its logger, whatever its children
    write to stdout/stderr) may add to its ``log.txt``; beyond it the output is dropped and
    counted. ``max_file_bytes``: the largest file it may write (RLIMIT_FSIZE; a write past it
    fails with EFBIG). ``max_open_files``: RLIMIT_NOFILE (never above the daemon's own hard
    limit). ``max_memory_bytes``: RLIMIT_DATA, the memory it may allocate; None: 3/4 of the
    machine's. ``max_address_space_bytes``: RLIMIT_AS; None: unlimited, since CUDA reserves far
    more address space than it uses. ``max_processes``: processes and threads the job may add
    to its user's count (RLIMIT_NPROC is per user; the kernel exempts root). Core dumps are
    always off (a core holds whatever the process read: keys, models).
    """

    max_log_bytes: int = 64 << 20
    max_file_bytes: int = 64 << 30
    max_open_files: int = 65536
    max_memory_bytes: int | None = None
    max_address_space_bytes: int | None = None
    max_processes: int = 4096

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ProcessLimits:
        """The limits a daemon handed over (``to_json``); ValueError if they are not that."""
        data = json.loads(text)
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) - names or not all(
                value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)
                for value in data.values()):
            raise ValueError(f"job process limits must be an object of whole numbers > 0 with keys among "
                             f"{', '.join(sorted(names))}")
        return cls(**data)
