"""Jobs for the side-by-side runs: FLARE's classic hello-numpy-sag (examples/hello-numpy-sag), which
both systems run unchanged, with its rounds and per-task sleep set; and a payload for big-job submits.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def sag_job(dest: Path, rounds: int = 3, sleep: float = 0.0, name: str = "hello-numpy") -> Path:
    """examples/hello-numpy-sag (FLARE's own format, which both systems run) with the given plan."""
    shutil.copytree(EXAMPLES / "hello-numpy-sag", dest)
    meta = json.loads((dest / "meta.json").read_text())
    _write_json(dest / "meta.json", {**meta, "name": name})
    server_config = dest / "app" / "config" / "config_fed_server.json"
    config = json.loads(server_config.read_text())
    config["workflows"][0]["args"]["num_rounds"] = rounds
    _write_json(server_config, config)
    client_config = dest / "app" / "config" / "config_fed_client.json"
    config = json.loads(client_config.read_text())
    config["executors"][0]["executor"]["args"]["sleep_time"] = sleep
    _write_json(client_config, config)
    return dest


def add_payload(job: Path, megabytes: int) -> Path:
    """Put ``megabytes`` of incompressible data in the job's app folder (a big model or dataset)."""
    data = job / "app" / "custom" / "payload.bin"
    data.parent.mkdir(parents=True, exist_ok=True)
    with open(data, "wb") as out:
        for _ in range(megabytes):
            out.write(os.urandom(1 << 20))
    return job


def sag_big_model_job(dest: Path, model_npy: Path, rounds: int, name: str) -> Path:
    """hello-numpy-sag starting from ``model_npy`` (a float32 .npy on this machine), as FLARE's
    NPModelPersistor loads a checkpoint: ``source_ckpt_file_full_name``. (Ours does not read server
    paths named by a job; it runs the same FedAvg from a model inside the job: bench_models.model_job.)"""
    sag_job(dest, rounds=rounds, name=name)
    server_config = dest / "app" / "config" / "config_fed_server.json"
    config = json.loads(server_config.read_text())
    for component in config["components"]:
        if component["path"].endswith("NPModelPersistor"):
            component.setdefault("args", {})["source_ckpt_file_full_name"] = str(model_npy)
    _write_json(server_config, config)
    return dest
