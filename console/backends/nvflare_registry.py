"""Where FLARE's command functions are registered: name -> function(FLARE Session, wire arguments).

``nvflare_commands`` fills it with most commands and imports the modules with the rest
(``nvflare_job_info``, ``nvflare_job_logs``, ``nvflare_shutdown``, ``nvflare_studies``), so that
``COMMANDS`` is whole wherever it is imported. Also the shapes those functions share: a reply's answer
without FLARE's envelope (``answer_of``), the ``targets`` argument (``targets_of``), an answer of nothing
with the console's words for it (``or_said``) and a per-site answer with a site's refusal raised
(``per_site``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.backends.nvflare_owner import BY_SUBMITTER, owned
from console.backends.nvflare_sites import refuse_if_refused
from console.worded import Said

Command = Callable[[Any, dict[str, Any]], Any]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(func: Command) -> Command:
        COMMANDS[name] = owned(name, func) if name in BY_SUBMITTER else func  # (someone else's job: said so)
        return func

    return register


#: Keys of FLARE's reply meta that describe the reply, not the answer.
_ENVELOPE = ("status", "info")


def answer_of(meta: Any) -> Any:
    """FLARE's reply meta without its envelope (``status``, ``info``); anything else as it is."""
    if isinstance(meta, dict):
        return {k: v for k, v in meta.items() if k not in _ENVELOPE}
    return meta


def targets_of(args: dict[str, Any]) -> list[str] | None:
    """The sites a target command names (wire argument ``targets``); None: every one."""
    return args.get("targets") or None


def or_said(answer: Any, words: str, fields: dict[str, Any] | None = None) -> Any:
    """FLARE's ``answer``; when it is nothing (``None``, ``{}``, ``""``: an action done, no errors), that
    nothing with the console's ``words`` for the table (``console.worded``): raw keeps FLARE's value, JSON too
    unless ``fields`` are given (an action: its record, ``{**fields, "message": words}``, as every action's)."""
    return answer if answer else Said(answer, words, fields)


def per_site(answer: Any, command: str) -> Any:
    """A {site: answer} reply, a site's refusal in it raised (FLARE returns it as that site's answer)."""
    if isinstance(answer, dict):
        refuse_if_refused(answer, command)
    return answer
