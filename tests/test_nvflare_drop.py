"""The FLARE server dropping away under the shell (the shared POC, reached through a relay the test cuts).

What the user sees on the first failed command after the drop, and on the next ones: our words (what
failed, what to do), never FLARE's bare status; the console connects again once the server answers.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pexpect
import pytest
from nvflare_poc import LiveFlare
from relay import Relay, kit_through
from shell_helpers import wrapped

PROMPT = re.compile(r"(\x1b\[[0-9;]*m)*server(\x1b\[[0-9;]*m)*> ")
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def _port(kit: Path) -> int:
    return int(json.loads((kit / "startup" / "fed_admin.json").read_text())["admin"]["port"])


@pytest.mark.timeout(180)
def test_the_first_command_after_the_flare_server_dropped_says_so_in_our_words(flare_poc: LiveFlare,
                                                                                 tmp_path: Path) -> None:
    relay = Relay(_port(flare_poc.admin_kit))
    kit = kit_through(flare_poc.admin_kit, relay.port, tmp_path / "kit")
    shell = flare_poc.spawn_console(tmp_path, "--kit", str(kit), kit=False, NO_COLOR="1")
    seen = io.StringIO()
    shell.logfile_read = seen
    try:
        shell.expect(PROMPT, timeout=60)
        shell.send("check_status server\r")
        shell.expect_exact("engine_status", timeout=60)
        shell.expect(PROMPT)
        relay.refusing.set()  # the server is gone: what was connected drops, nothing connects again
        relay.cut()
        shell.send("check_status server\r")
        # (Mostly the command finds the drop; sometimes the background refresh of completion data found it
        # just before, and the command is not sent: both in our words.)
        shell.expect([wrapped("check_status got no answer: the connection to the FLARE server at localhost:")
                      + r"\d+\s+" + wrapped("is lost; is the server still running? The console connects again once it answers"),
                      "the server is unreachable, so check_status was not sent"], timeout=60)
        shell.expect(PROMPT)
        shell.send("list_jobs\r")
        shell.expect_exact("the server is unreachable, so list_jobs was not sent; the console keeps reconnecting")
        shell.expect(PROMPT)
        relay.refusing.clear()  # the server is back: the console logs in again by itself
        shell.expect_exact("reconnected to the server", timeout=60)
        shell.send("check_status server\r")
        shell.expect_exact("engine_status", timeout=60)
        shell.expect(PROMPT)
        text = ANSI.sub("", seen.getvalue())
        assert "ERROR_SERVER_CONNECTION" not in text and "cannot connect to server" not in text, text

        # Leaving while the server is away again: seconds, not FLARE's logins and logouts timing out
        # (its threads held the exit for 20 s).
        relay.refusing.set()
        relay.cut()
        shell.send("check_status server\r")
        shell.expect(["check_status got no answer", "check_status was not sent"], timeout=60)
        shell.expect(PROMPT)
        leaving = time.monotonic()
        shell.send("bye\r")
        shell.expect(pexpect.EOF, timeout=60)
        took = time.monotonic() - leaving
        shell.close()
        assert shell.exitstatus == 0
        assert took < 10, f"leaving took {took:.1f} s"
    except pexpect.TIMEOUT:
        raise AssertionError(f"the console showed:\n{ANSI.sub('', seen.getvalue())[-3000:]}") from None
    finally:
        if shell.isalive():
            shell.terminate(force=True)
        relay.close()
