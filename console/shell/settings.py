"""The shell's settings as commands: ``set [SETTING [VALUE]]``, and ``theme``, ``timing`` and ``expanded`` (psql's
``\\timing`` and ``\\x``), which change one each; also the F-keys' flip of a setting.

Owns applying a setting's new value to the shell's state, keeping it (``Frontend.remember``: the config
file; a batch keeps nothing) and saying it, and ``set`` alone's listing of every setting (from the
registry's ``SETTINGS``). Must not read or write the config file or theme files itself, nor draw
anything: the frontend does that.
"""

from __future__ import annotations

from console.commands import SETTINGS
from console.shell.client_side import CommandFailed, Outcome, ShellContext, ShellState, client_side
from console.shell.output import Expanded, Format
from console.shell.parse import ParsedCommand
from console.shell.themes import theme_listing


@client_side("theme")
async def _theme(ex: ShellContext, parsed: ParsedCommand) -> Outcome:
    name = parsed.values.get("name")
    if not name:
        return Outcome(message=theme_listing(ex.frontend.theme_names(), ex.state.theme))
    return change_setting(ex, "theme", name)


def _setting_values(state: ShellState) -> dict[str, str]:
    """Each setting of ``SETTINGS`` and its value now, as ``set`` takes it."""
    return {"format": state.format.value, "expanded": state.expanded.value, "editing": state.editing,
            "timing": "on" if state.timing else "off", "theme": state.theme}


def change_setting(ex: ShellContext, setting: str, value: str) -> Outcome:
    """``set SETTING VALUE`` and the commands that change one setting (``theme``, ``timing``, ``expanded``):
    applied, kept in the config file (``Frontend.remember``; a batch's are its own), and said."""
    state = ex.state
    notes: list[str] = []  # a theme's bad colours, each with what replaces it
    if setting == "format":
        state.format = Format(value)
    elif setting == "expanded":
        state.expanded = Expanded(value)
    elif setting == "editing":
        state.editing = value
    elif setting == "timing":
        state.timing = value == "on"
    elif setting == "theme":
        notes = ex.frontend.set_theme(value)  # an unknown or broken theme fails here, the one in use stays
        state.theme = value
    else:
        raise CommandFailed(f"set: no setting '{setting}'; set alone lists them")
    ex.frontend.remember(setting, state.timing if setting == "timing" else value)
    return Outcome(message="\n".join([f"timing {value}" if setting == "timing" else f"{setting}: {value}", *notes]))


@client_side("set")
async def _set(ex: ShellContext, parsed: ParsedCommand) -> Outcome:
    setting, value = parsed.values["setting"], parsed.values["value"]
    if value is None:  # as psql's \set alone: what each setting is now, and how to change it
        values = _setting_values(ex.state)
        return Outcome([{"setting": name, "value": values[name],
                         "change with": f"set {name} {'|'.join(choices) or 'NAME'}"}
                        for name, choices in SETTINGS.items() if setting in (None, name)])
    return change_setting(ex, setting, value)


@client_side("timing")
async def _timing(ex: ShellContext, parsed: ParsedCommand) -> Outcome:
    state = parsed.values.get("state") or ("off" if ex.state.timing else "on")  # psql's \timing switches it
    return change_setting(ex, "timing", state)


@client_side("expanded")
async def _expanded(ex: ShellContext, parsed: ParsedCommand) -> Outcome:
    """psql's ``\\x``: alone it switches between on and off (auto counts as off, as psql's does)."""
    state = parsed.values.get("state") or ("off" if ex.state.expanded is Expanded.ON else "on")
    return change_setting(ex, "expanded", state)


def flipped(state: ShellState, setting: str) -> str:
    """An F-key's setting (``format``, ``expanded`` or ``editing``) switched in ``state`` to its next value, at
    once (no command typed): that value, as ``set`` takes it. format: table and json; expanded: auto, on,
    off; editing: emacs and vi."""
    if setting == "format":
        state.format = Format.JSON if state.format is Format.TABLE else Format.TABLE
        return state.format.value
    if setting == "expanded":
        cycle = [Expanded.AUTO, Expanded.ON, Expanded.OFF]
        state.expanded = cycle[(cycle.index(state.expanded) + 1) % len(cycle)]
        return state.expanded.value
    state.editing = "vi" if state.editing == "emacs" else "emacs"
    return state.editing
