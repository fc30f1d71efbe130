"""Whether a command's output can go to ``| PIPELINE`` or ``> FILE``, from the registry (``CommandSpec.output``).

Only a command that prints one answer can, and a live view drawn once for them (``top`` as ``top -b
-n 1``, ``plot`` without colour: ``Output.SNAPSHOT``). ``watch`` only redraws in place: it has no text
to hand on. A command whose lines come in the background (``follow``, ``monitor_job``) has returned
before they come: its first line would go to the pipeline, the rest to the screen while the pager
holds the keyboard. Those are refused in words naming what does the job (the batch form:
``flare-console --kit KIT -c '...' > FILE`` blocks and writes every line, spelled as this console was
started: ``invocation.console_login_command``). Owns the wording only.
"""

from __future__ import annotations

import shlex

from console.commands import Output
from console.shell.parse import ParsedCommand, Sink


def sink_refusal(parsed: ParsedCommand, sink: Sink, line: str, again: str) -> str | None:
    """Why ``parsed`` (typed as ``line``, without its sink) cannot send its output to ``sink``; None when it can.
    ``again``: the shell words that start this console with its kit and user (``console_login_command``)."""
    spec = parsed.spec
    where = f"'{sink.kind} {sink.target}'"
    if spec.output is Output.BACKGROUND:
        return (f"{spec.name} prints its lines above the prompt as they come, after it returned, so they cannot "
                f"go to {where}; a batch waits for them all: {again} -c {shlex.quote(line)} {sink.kind} "
                f"{sink.target}")
    if spec.output is Output.SCREEN:
        return f"{spec.name} redraws its command in place, so it cannot go to {where}: run the command itself " \
               f"with {sink.kind}"
    return None
