"""The one error of job folders: what rule was broken and how to fix it."""

from __future__ import annotations


class JobDefinitionError(ValueError):
    """The job folder breaks a rule; the message names the rule and the fix."""
