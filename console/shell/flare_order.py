"""FLARE's admin console order for the log commands, taken as ours.

FLARE 2.9's fl_admin writes the target before the config (``configure_job_log JOB server|client
SITE...|all CONFIG``, ``configure_site_log server|client SITE...|all CONFIG``: its ``job_cmds`` and
``sys_cmd`` usages); ours, as its flare_api's Session, the config first (``configure_job_log JOB CONFIG
[TARGET]``). A line in fl_admin's order is put in ours before it is parsed, so either works; what
ours cannot say (several sites at once, a single site for configure_site_log) is refused naming the
order that works, with an example.

Owns that rewriting only; the grammar itself is the catalog's.
"""

from __future__ import annotations

#: fl_admin's target words.
_TARGET_TYPES = ("server", "client", "all")


def in_our_order(command: str, words: list[str]) -> list[str]:
    """``words`` (the arguments after ``command``) in our order when they are in fl_admin's; otherwise as
    they are. Raises ValueError (its text for the user) for fl_admin's lines ours has no form for."""
    if command == "configure_job_log" and len(words) >= 3 and words[1] in _TARGET_TYPES and not words[2].startswith("-"):
        job, kind, *targets, config = words
        ours = f"configure_job_log {job} {config}"
        if kind != "client":
            return [job, config, kind] if not targets else _refused(command, words, f"{ours} {kind}")
        if len(targets) == 1:
            return [job, config, targets[0]]
        example = f"{ours} {targets[0] if targets else 'site-1'}"
        return _refused(command, words, example, "" if targets else "name the site: ")
    if command == "configure_site_log" and len(words) >= 2 and words[0] in _TARGET_TYPES and \
            words[-1] not in _TARGET_TYPES and not words[-1].startswith("-"):
        kind, *targets, config = words
        if not targets:
            return [config, kind]
        raise ValueError(f"configure_site_log: FLARE's API sets the log of the server, of every site (client) or of "
                         f"all, not of one site; CONFIG comes first: configure_site_log {config} client")
    return words


def _refused(command: str, words: list[str], example: str, lead: str = "") -> list[str]:
    raise ValueError(f"{command}: cannot read '{' '.join(words)}'; {lead}CONFIG comes first, then one target "
                     f"(all, server or a site): {example}")
