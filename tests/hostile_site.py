"""A hostile site: the project's real site code with its own certificate, except that it answers
every task with a result file far over any limit the job set (a site with a bug, or run by
someone who wants to fill the server's disk). The file is sparse: it costs this machine no disk.
With ``HOSTILE_WEIGHT`` (JSON) set, it answers with the task's own model and that weight instead.

    python tests/hostile_site.py SITE_KIT [RESULT_BYTES]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from console.site import app
from console.wire.request_context import Download, RequestContext

RESULT_BYTES = int(sys.argv[2]) if len(sys.argv) > 2 else 256 << 20
WEIGHT = os.environ.get("HOSTILE_WEIGHT")


class HostileSite(app.Site):
    async def _cmd_task(self, ctx: RequestContext, args: dict[str, Any]) -> Download:
        self._heard()
        workspace = self.jobs.workspace(args["job_id"])
        incoming = workspace / f"hostile-task-{args['task_id']}.model"
        await ctx.receive_upload(incoming, 1 << 30, sync=False)
        if WEIGHT is not None:  # the model as it came, with a weight that is no weight
            return Download(incoming, {"weight": json.loads(WEIGHT), "metrics": {}})
        incoming.unlink(missing_ok=True)
        result = workspace / f"hostile-result-{args['task_id']}.model"
        with open(result, "wb") as out:
            out.truncate(RESULT_BYTES)
        return Download(result, {"weight": 1.0, "metrics": {}})


if __name__ == "__main__":
    app.Site = HostileSite  # type: ignore[misc]  (run_site builds the site by this name)
    asyncio.run(app.run_site(Path(sys.argv[1])))
