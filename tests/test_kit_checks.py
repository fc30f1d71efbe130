"""A server or site kit's limits are read strictly: an operator's typo in ``connection_limits`` or
``job_limits`` stops the daemon at start with a message naming the keys it takes, rather than
running with a default the operator believes changed (docs/security.md, Identity)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.wire.gate import ConnectionLimits
from console.wire.kit import KitError, ServerKit, SiteKit


def _server_kit(root: Path, **server: Any) -> Path:
    (root / "startup").mkdir(parents=True, exist_ok=True)
    entry = {"identity": "server", "fed_learn_port": 8002, "admin_port": 8003, **server}
    (root / "startup" / "fed_server.json").write_text(json.dumps({"project_name": "p", "servers": [entry]}))
    return root


def _site_kit(root: Path, **client: Any) -> Path:
    (root / "startup").mkdir(parents=True, exist_ok=True)
    data = {"project_name": "p", "client": {"name": "site-1", **client},
            "servers": [{"identity": "server", "fed_learn_port": 8002}]}
    (root / "startup" / "fed_client.json").write_text(json.dumps(data))
    return root


def test_limits_given_are_used_and_the_rest_keep_their_defaults(tmp_path: Path) -> None:
    kit = ServerKit.load(_server_kit(tmp_path, connection_limits={"max_per_identity": 4, "first_byte_timeout": 0.5},
                                     job_limits={"max_queued_per_submitter": 3}))
    assert (kit.connection_limits.max_per_identity, kit.connection_limits.first_byte_timeout) == (4, 0.5)
    assert kit.connection_limits.max_connections == ConnectionLimits().max_connections
    assert kit.job_limits.max_queued_per_submitter == 3
    assert kit.max_upload_bytes == 2 << 30
    assert SiteKit.load(_site_kit(tmp_path / "site", job_limits={"max_unpacked_bytes": 1 << 20})
                        ).job_limits.max_unpacked_bytes == 1 << 20


@pytest.mark.parametrize("limits", [
    {"max_per_identy": 4},             # a typo: an unknown key
    {"max_per_identity": 0},           # not positive
    {"max_per_identity": -1},
    {"max_per_identity": 2.5},         # a count must be whole
    {"max_per_identity": True},        # a bool is no number here
    {"max_per_identity": "16"},
    {"first_byte_timeout": None},
    [],
    "strict",
])
def test_a_bad_limit_stops_the_kit_from_loading_naming_the_keys(tmp_path: Path, limits: Any) -> None:
    with pytest.raises(KitError, match="limits must be an object of positive numbers with keys among.*max_per_identity"):
        ServerKit.load(_server_kit(tmp_path, connection_limits=limits))


def test_job_limits_of_the_server_and_of_a_site_are_checked_alike(tmp_path: Path) -> None:
    with pytest.raises(KitError, match="max_queued_per_submitter"):
        ServerKit.load(_server_kit(tmp_path, job_limits={"max_queued_per_submitter": 0}))
    with pytest.raises(KitError, match="max_unpacked_bytes"):
        SiteKit.load(_site_kit(tmp_path / "site", job_limits={"max_unpacked_bytes": -5}))
