"""configure_job_log and configure_site_log in FLARE 2.9's fl_admin order (target before config) as well as ours
(config first, as its flare_api): the same command either way, or a refusal naming the order that works."""

from __future__ import annotations

import pytest

from console.commands import Engine
from console.shell.parse import UsageError, parse_command

JOB = "852278dd"


@pytest.mark.parametrize(("line", "values"), [
    # fl_admin's order (job_cmds / sys_cmd usages).
    (f"configure_job_log {JOB} server DEBUG", {"job_id": JOB, "config": "DEBUG", "target": "server"}),
    (f"configure_job_log {JOB} all concise", {"job_id": JOB, "config": "concise", "target": "all"}),
    (f"configure_job_log {JOB} client site-2 INFO", {"job_id": JOB, "config": "INFO", "target": "site-2"}),
    ("configure_site_log server DEBUG", {"config": "DEBUG", "target": "server"}),
    ("configure_site_log client verbose", {"config": "verbose", "target": "client"}),
    ("configure_site_log all INFO", {"config": "INFO", "target": "all"}),
    # Ours, unchanged.
    (f"configure_job_log {JOB} DEBUG server", {"job_id": JOB, "config": "DEBUG", "target": "server"}),
    (f"configure_job_log {JOB} DEBUG site-2", {"job_id": JOB, "config": "DEBUG", "target": "site-2"}),
    (f"configure_job_log {JOB} DEBUG", {"job_id": JOB, "config": "DEBUG", "target": "all"}),
    ("configure_site_log DEBUG server", {"config": "DEBUG", "target": "server"}),
    ("configure_site_log DEBUG", {"config": "DEBUG", "target": "all"}),
])
def test_either_order_gives_the_same_command(line: str, values: dict) -> None:
    parsed = parse_command(line, Engine.NVFLARE)
    assert parsed is not None
    assert {k: parsed.values.get(k) for k in values} == values


@pytest.mark.parametrize(("line", "said"), [
    (f"configure_job_log {JOB} client site-1 site-2 DEBUG",
     f"CONFIG comes first, then one target (all, server or a site): configure_job_log {JOB} DEBUG site-1"),
    (f"configure_job_log {JOB} client DEBUG", f"name the site: CONFIG comes first, then one target (all, server or a "
                                              f"site): configure_job_log {JOB} DEBUG site-1"),
    (f"configure_job_log {JOB} server site-1 DEBUG", f"configure_job_log {JOB} DEBUG server"),
    ("configure_site_log client site-1 DEBUG", "not of one site; CONFIG comes first: configure_site_log DEBUG client"),
])
def test_what_ours_cannot_say_is_refused_naming_the_order_with_an_example(line: str, said: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_command(line, Engine.NVFLARE)
    assert said in str(refused.value)
