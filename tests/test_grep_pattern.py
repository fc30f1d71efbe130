"""Our grep's patterns as GNU grep's (``console.runtime.grep_pattern``): the lines found and the patterns refused,
checked against the system's GNU grep, which FLARE's grep runs (flare11 item 7)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from console.runtime.grep_pattern import PatternError, bre_to_python

LINES = ["foo(bar)", "a+b", "aab", "x{2}", "xx", "a|b", "ab", "a*b", "*star", "^caret", "cost $5", "end$", "abcabc",
         "hello world", "tab\there", "x]y", "a\\b", "a.b", "aXb", "", "(", "word boundary", "?q", "ERROR: x", "err 42"]
PATTERNS = ["(", "foo(bar)", "a+b", "a\\+b", "x{2}", "x\\{2\\}", "a|b", "a\\|b", "\\(abc\\)\\1", "*star", "^*star",
            "^caret", "$5", "end$", "a\\?b", "[]x]", "[^a-z]", "[[:digit:]]\\+", "a\\\\b", "a\\.b", "a.b", "\\<word",
            "world\\>", "x]", "?q", "\\(a\\|b\\)*", "a**", "\\(ab\\)*\\{2\\}", "[[:upper:]]\\{5\\}:", "[.-9]", "\\(",
            "\\)", "[abc", "a\\", "\\{1", "a\\{x\\}", "\\2", "[[:nope:]]", "b*\\?", "x\\{2", "\\{2\\}x", "x\\{,2\\}",
            "a\\{3,1\\}", "a\\{1,\\}b", "[a\\]x"]


def _gnu_grep() -> str | None:
    found = shutil.which("grep")
    if found is None:
        return None
    version = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=10).stdout
    return found if "GNU grep" in version else None


@pytest.mark.skipif(_gnu_grep() is None, reason="GNU grep is not installed here")
@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_pattern_finds_what_gnu_grep_finds_or_is_refused_in_its_words(pattern: str) -> None:
    gnu = subprocess.run([str(_gnu_grep()), "-n", "--", pattern], input="\n".join(LINES) + "\n", capture_output=True,
                         text=True, timeout=10, env={"LC_ALL": "C"})
    expected = gnu.stdout if gnu.returncode in (0, 1) else "grep: " + gnu.stderr.strip().split(": ", 1)[1]
    try:
        found = re.compile(bre_to_python(pattern))
        ours = "".join(f"{number}:{line}\n" for number, line in enumerate(LINES, 1) if found.search(line))
    except PatternError as exc:
        ours = f"grep: {exc}"
    assert ours == expected
