"""The console's output formats (``--format``, the ``format`` setting, ``-f json`` of a batch).

A module of its own so that the command line is parsed without importing the output code and
prompt_toolkit (``console.shell.arguments``): the server and site daemons parse it too.
"""

from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    RAW = "raw"
