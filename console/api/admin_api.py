"""``Session.api`` on our engine: what a FLARE script finds where FLARE 2.9 keeps its AdminAPI.

FLARE's Session holds its admin client as ``api`` (``nvflare.fuel.hci.client.api.AdminAPI``), and FLARE
scripts call ``sess.api.do_command("list_jobs -d")`` for what the Session has no method for; the answer
is FLARE's wire packaging (``status``, ``details``, ``meta``, ``data`` items of strings, tables, dicts).
Our server speaks flare-console's protocol, whose answers are the Session methods' own values: made into
FLARE's packaging here they would be an imitation of FLARE's replies, a made-up result a script would
read as FLARE's. So, as the other FLARE-only methods (``console.api.flare_only``), ``do_command`` raises
FLARE's CommandError (COMMAND_NOT_SUPPORTED) naming the command and, when the Session has a method for
it, that method; any other AdminAPI attribute raises AttributeError saying the same. A Session made with
FLARE's admin kit (``console.backends.nvflare_script``) has FLARE's own AdminAPI there instead.

Owns only that object; must not talk to the server.
"""

from __future__ import annotations

from typing import Any

from console.api.flare_only import unsupported

#: FLARE 2.9's admin command names (its console's, ``AdminCommandNames``) -> the Session method doing it here.
SESSION_METHODS = {
    "check_status": "check_status", "sys_info": "sys_info", "report_resources": "report_resources",
    "report_version": "report_version", "report_env": "get_client_env", "show_stats": "show_stats",
    "show_errors": "show_errors", "reset_errors": "reset_errors", "list_jobs": "list_jobs",
    "get_job_meta": "get_job_meta", "submit_job": "submit_job", "clone_job": "clone_job", "abort_job": "abort_job",
    "delete_job": "delete_job", "download_job": "download_job_result", "get_job_log": "get_job_logs",
    "ls": "ls_target", "cat": "cat_target", "head": "head_target", "tail": "tail_target", "grep": "grep_target",
    "pwd": "get_working_directory", "shutdown": "shutdown", "restart": "restart", "remove_client": "remove_client",
    "disable_client": "disable_client", "enable_client": "enable_client", "set_timeout": "set_timeout",
    "unset_timeout": "unset_timeout",
}

_LACKS = "FLARE admin client (its server speaks flare-console's protocol, not FLARE's admin command lines)"


class OwnAdminAPI:
    """``Session.api`` on our engine: FLARE's ``AdminAPI.do_command(command, props=None)`` by name, which
    raises CommandError (COMMAND_NOT_SUPPORTED) naming the command and the Session method for it."""

    def do_command(self, command: str, props: Any = None) -> dict[str, Any]:
        """Never answers: raises CommandError. ``command`` is a FLARE admin command line ("list_jobs -d")."""
        name = command.split(maxsplit=1)[0] if isinstance(command, str) and command.strip() else repr(command)
        method = SESSION_METHODS.get(name.lower())
        asked = f"{_LACKS}: for {name}, call Session.{method}" if method else f"{_LACKS}, asked for {name}"
        raise unsupported("api.do_command", asked)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"Session.api.{name}: flare-console's own engine has no {_LACKS}; Session.api has "
                             "only do_command, which names the Session method to call instead")

    def __repr__(self) -> str:
        return "<Session.api of flare-console's own engine: no FLARE AdminAPI (do_command says what to call)>"
