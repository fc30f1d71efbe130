"""hello-server-fail: like hello-server, but step 2 raises, so the job ends EXECUTION_EXCEPTION."""


def run(ctx):
    steps = int(ctx.args.get("steps", 3))
    for step in range(1, steps + 1):
        if not ctx.sleep(float(ctx.args.get("step_seconds", 0.3))):
            return
        if step == 2:
            raise RuntimeError("hello-server-fail: step 2 failed on purpose")
        ctx.logger.info("step %d/%d done", step, steps)
        ctx.progress(step=step, steps=steps)
