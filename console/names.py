"""The shapes of names that become folder names on a participant: checked wherever they arrive.

A job's workspace on the server and on each site is named by its job ID, and a site unpacks a
job's app under the app's name: a name from the wire that is not of these shapes could name
the participant's kit (``startup/``, ``local/``) or leave the folder it belongs in.
"""

from __future__ import annotations

import re

#: FLARE's JOB_NAME_PATTERN (fuel/utils/validation_utils.py): job folder and app names.
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")

#: A job ID as the server makes it (``str(uuid.uuid4())``): a lower-case UUID, nothing else.
SERVER_JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def is_server_job_id(text: object) -> bool:
    """Whether ``text`` is a job ID of the server's form (a lower-case UUID string)."""
    return isinstance(text, str) and SERVER_JOB_ID.match(text) is not None


def is_plain_name(text: object) -> bool:
    """Whether ``text`` is one plain folder name (letters, digits, '.', '_', '-'; not '.' or '..')."""
    return isinstance(text, str) and PLAIN_NAME.match(text) is not None
