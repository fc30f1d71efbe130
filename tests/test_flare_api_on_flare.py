"""FLARE logins from the console and from FLARE API scripts on a live NVIDIA FLARE 2.9 POC (the shared ``flare_poc``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nvflare_poc import LiveFlare


@pytest.mark.timeout(120)
def test_the_console_names_a_user_the_flare_kit_is_not_for(flare_poc: LiveFlare, tmp_path: Path) -> None:
    done = flare_poc.run_console(tmp_path, "--user", "someone@else.org", "-c", "check_status server")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "AuthenticationError: this kit's certificate is" in done.stderr, done.stderr
    assert "client_registration" not in done.stderr, done.stderr
