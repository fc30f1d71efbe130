"""The POC's one error: FLARE missing, or a POC that could not be prepared, started or reached.

Owns only the exception, so that every part of the sub-package (``lifecycle``, ``workspace``, ``venv``)
raises it without importing another part.
"""

from __future__ import annotations


class PocError(RuntimeError):
    """FLARE is missing, or the POC could not be prepared, started or reached; the message says which."""
