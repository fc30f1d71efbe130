"""An engine's answer kept exactly as it came, with the console's words for some of its values.

The rule (as list_jobs' orphan flag, ``backends/nvflare_orphans``): ``--format json``/``raw`` and the
Python API carry what the engine gave (FLARE's ``{}`` for a silent site, its ``None`` for no errors);
the console's sentences about those values show only in the ``table`` format (``shell/human``).

Must not: change the answer's keys or values; it is the engine's answer for every reader but people.
"""

from __future__ import annotations

from typing import Any


class Worded(dict[str, Any]):
    """A mapping answer equal to the engine's, with ``words``: {key: sentence} shown in the table in place
    of that key's value. JSON writes it as the plain mapping it is."""

    def __init__(self, answer: dict[str, Any], words: dict[str, str]) -> None:
        super().__init__(answer)
        self.words = {key: text for key, text in words.items() if key in answer}

    def for_people(self) -> dict[str, Any]:
        """The answer with the console's sentences in place of the values they speak of."""
        return {key: self.words.get(key, value) for key, value in self.items()}


class Said:
    """An engine's answer other than a mapping (FLARE's ``None`` for an action done, ``{}`` for no errors,
    a download's location: ``answer``) with the console's sentence for it (``words``): JSON and raw show
    the answer, the table the sentence."""

    __slots__ = ("answer", "words", "fields")

    def __init__(self, answer: Any, words: str, fields: dict[str, Any] | None = None) -> None:
        self.answer = answer
        self.words = words
        #: For an action the engine answered with nothing (FLARE's ``None`` for reset_errors) or a bare value (a
        #: download's location): JSON writes ``{**fields, "message": words}``, the record every other action
        #: writes (submit_job's, download_job's); None: JSON writes the answer (a view's ``{}``: no errors).
        self.fields = fields


def engine_answer(result: Any) -> Any:
    """What the engine gave: ``result`` itself, or a ``Said``'s answer (for raw)."""
    return result.answer if isinstance(result, Said) else result


def json_document(result: Any) -> Any:
    """What ``--format json`` writes: the engine's answer, or an action's record (``Said.fields``)."""
    if isinstance(result, Said) and result.fields is not None:
        return {**result.fields, "message": result.words}
    return engine_answer(result)


def for_people(result: Any) -> Any:
    """``result`` with the console's words in place of the engine values they speak of (the table only)."""
    if isinstance(result, Worded):
        return result.for_people()
    if isinstance(result, Said):
        return result.words
    return result
