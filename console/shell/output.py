"""Rendering results: aligned tables for lists, pretty JSON for dicts, raw on request.

Also the pager: output taller than the screen goes through ``$PAGER`` (default
``less -SRXF``) in the interactive shell only.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from enum import StrEnum
from typing import Any

from console.shell.safe_text import visible

DEFAULT_PAGER = "less -SRXF"


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    RAW = "raw"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float):
        return f"{value:.3f}"
    return visible(str(value))  # before widths are measured, so columns stay aligned


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "(none)"
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    lines = ["  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def render(result: Any, fmt: Format) -> str:
    """``result`` for the terminal: control characters from the server shown visibly, except in
    JSON, which escapes them itself and stays exact."""
    text = _render(result, fmt)
    return text if fmt is Format.JSON else visible(text)


def _render(result: Any, fmt: Format) -> str:
    if result is None:
        return "" if fmt is Format.TABLE else ("null" if fmt is Format.JSON else "None")
    if fmt is Format.JSON:
        return json.dumps(result, indent=2, default=str)
    if fmt is Format.RAW:
        return result if isinstance(result, str) else repr(result)
    if isinstance(result, str):
        return result
    logs = _logs(result)
    if logs is not None:
        return logs
    if isinstance(result, dict) and len(result) == 1:
        (inner,) = result.values()  # e.g. {"client_status": [rows]}: the rows are the answer
        if isinstance(inner, list) and inner and all(isinstance(r, dict) for r in inner):
            return table(inner)
    if isinstance(result, list) and all(isinstance(r, dict) for r in result):
        return table(result)
    if isinstance(result, list):
        return "\n".join(_cell(item) for item in result) or "(none)"
    return json.dumps(result, indent=2, default=str)


def _logs(result: Any) -> str | None:
    """``get_job_logs``' answer (FLARE's shape: {"logs": {target: text}, "unavailable": {...}}) as text."""
    if not (isinstance(result, dict) and isinstance(result.get("logs"), dict) and set(result) <= {"logs", "unavailable"}):
        return None
    parts = []
    for target, text in result["logs"].items():
        parts.append(f"== {target} ==")
        parts.append(str(text).strip("\n") or "(empty)")
    for target, reason in (result.get("unavailable") or {}).items():
        parts.append(f"== {target}: unavailable: {reason}")
    return "\n".join(parts) or "(no logs)"


def needs_pager(text: str) -> bool:
    return text.count("\n") + 1 > shutil.get_terminal_size((80, 24)).lines - 2


def page(text: str, pager: str | None = None) -> bool:
    """Show ``text`` through the pager; False if the pager could not run (the caller prints it)."""
    command = shlex.split(pager or os.environ.get("PAGER") or DEFAULT_PAGER)
    if not command:
        return False
    try:
        subprocess.run(command, input=text.encode(), check=False)
    except (OSError, ValueError):
        return False
    return True
