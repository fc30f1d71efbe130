"""A Pygments lexer for the console's command language, built from the command registry."""

from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups
from pygments.token import Comment, Keyword, Name, Number, String, Text, Whitespace

from console.commands import NAMES


def _words(names: list[str]) -> str:
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


class CommandLexer(RegexLexer):
    name = "flare-console"
    aliases = ["flare-console"]

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#.*$", Comment.Single),
            (rf"({_words(list(NAMES))})(?=\s|$)", Keyword, "args"),
            (r"\S+", Name.Exception, "args"),  # not a command: shown as an error
        ],
        "args": [
            (r"\s+", Whitespace),
            (r"#.*$", Comment.Single),
            (r"(--?[A-Za-z][\w-]*)", bygroups(Name.Attribute)),
            (r"\b(server|client|all|@ALL)\b", Name.Builtin),
            (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", Name.Constant),
            (r"\b[0-9a-f]{4,8}(-[0-9a-f]{0,4})*\b(?![\w./])", Name.Constant),
            (r"-?\d+(\.\d+)?\b(?![\w./])", Number),
            (r"(~|\.{1,2})?/\S*|\S+/\S*", String.Other),
            (r"\"[^\"]*\"?|'[^']*'?", String),
            (r"\S+", Text),
        ],
    }
