"""The shapes of names that become folder names on a participant: checked wherever they arrive.

A job's workspace on the server and on each site is named by its job ID, and a site unpacks a
job's app under the app's name: a name from the wire that is not of these shapes could name
the participant's kit (``startup/``, ``local/``) or leave the folder it belongs in. A file name
(an archive entry) must hold no character a terminal acts on or draws as nothing (``UNSEEN``):
the console's text rules (``console.shell.safe_text``) build on the same list.
"""

from __future__ import annotations

import re

#: Characters a terminal draws as nothing or acts on: Unicode's categories Cc (C0 and C1 controls,
#: DEL), Cf (format: bidi marks, embeddings, overrides and isolates, zero-width space and joiners,
#: word joiner, BOM, soft hyphen, invisible operators, tag characters), Cs (a lone surrogate) and
#: Zl/Zp (line and paragraph separators), as of Unicode 15; then the other default-ignorable
#: characters a terminal draws as nothing: the combining grapheme joiner, Hangul fillers, Khmer
#: inherent vowels, Mongolian variation selectors and the variation selectors supplement (emoji's
#: U+FE0F stays: it changes how a visible character looks). A regular expression's character class
#: body, without the C0 controls (``console.shell.safe_text`` keeps tab and newline); a test checks it
#: against the running Python's Unicode database.
UNSEEN_BEYOND_C0 = (
    "\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
    "\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u180f\u3164\uffa0\U000e0100-\U000e01ef"
)
#: Any character of ``UNSEEN_BEYOND_C0`` or a C0 control (tab, newline and carriage return too).
UNSEEN = re.compile(f"[\x00-\x1f{UNSEEN_BEYOND_C0}]")

#: FLARE's JOB_NAME_PATTERN (fuel/utils/validation_utils.py): job folder and app names.
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")

#: A job ID as the server makes it (``str(uuid.uuid4())``): a lower-case UUID, nothing else.
SERVER_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def is_server_job_id(text: object) -> bool:
    """Whether ``text`` is a job ID of the server's form (a lower-case UUID string)."""
    return isinstance(text, str) and SERVER_JOB_ID.match(text) is not None


def unseen_in(name: str) -> str | None:
    """The first control or invisible character of ``name`` (``UNSEEN``), or None: a file name with
    one would reach a terminal as an escape sequence, a line break or hidden text when listed."""
    found = UNSEEN.search(name)
    return found.group() if found else None


def is_plain_name(text: object) -> bool:
    """Whether ``text`` is one plain folder name (letters, digits, '.', '_', '-'; not '.' or '..')."""
    return isinstance(text, str) and PLAIN_NAME.match(text) is not None


#: A character's escape as ``shown_name`` writes it: ``\x0a``, ``\u202e``, ``\U000e0001``.
ESCAPED = re.compile(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown_name(name: str) -> str:
    """``name`` (a file's, as a listing gives it) with every ``UNSEEN`` character written as its Python
    escape: ``new\\nline`` reads ``new\\x0aline``, ESC ``\\x1b``, a tab ``\\x09``. One rule for every
    control character, the one the console's text rules use (``console.shell.safe_text``), so a name
    is one line of a listing whatever it holds, and what is there stays visible."""
    return UNSEEN.sub(_escape, name) if not (name.isascii() and name.isprintable()) else name


def may_be_escaped(name: str) -> bool:
    """Whether a name read from a listing holds what ``shown_name`` writes for a control character: the
    file's real name is not known from it (``a\\x0ab`` may be the listing of ``a``, a line break,
    ``b``), so completion does not offer it (the command would reach no file, or another one)."""
    return "\\" in name and ESCAPED.search(name) is not None


def site_named(name: str) -> str:
    """A site as a sentence names it: ``site hospital-a``, but ``site-2`` alone (a name that says it is a
    site: "site site-2 does not answer" read the word twice, session 12's terminal user)."""
    return name if name.lower().startswith("site") else f"site {name}"
