"""hello-server: a server-only job that runs a few timed steps and writes result.json."""

import json


def run(ctx):
    steps = int(ctx.args.get("steps", 3))
    step_seconds = float(ctx.args.get("step_seconds", 0.3))
    done = 0
    for step in range(1, steps + 1):
        if not ctx.sleep(step_seconds):
            ctx.logger.info("aborted before step %d", step)
            break
        done = step
        ctx.logger.info("step %d/%d done", step, steps)
        ctx.progress(step=step, steps=steps)
    (ctx.workspace / "result.json").write_text(json.dumps({"steps_done": done, "job_id": ctx.job_id}))
