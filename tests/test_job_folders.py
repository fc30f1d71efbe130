"""Job folders: FLARE's validation rules and archives that cannot escape their target."""

from __future__ import annotations

import json
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from console.jobdef.archive import UnsafeArchiveError, safe_extract, zip_job_folder
from console.jobdef.validate import JobDefinitionError, validate_job_folder

from conftest import EXAMPLES


def job(tmp_path: Path, meta: dict, apps: dict[str, tuple[str, ...]] | None = None) -> Path:
    folder = tmp_path / "job"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps(meta))
    for app, configs in (apps or {"app": ("server", "client")}).items():
        (folder / app / "config").mkdir(parents=True)
        for side in configs:
            (folder / app / "config" / f"config_fed_{side}.json").write_text("{}")
    return folder


def test_examples_validate() -> None:
    hello = validate_job_folder(EXAMPLES / "hello-server")
    assert hello.name == "hello-server" and hello.deploys_to_server and hello.has_custom_code
    assert hello.min_clients == 0 and hello.sites == []
    assert validate_job_folder(EXAMPLES / "hello-server-fail").name == "hello-server-fail"


@pytest.mark.parametrize("meta, message", [
    ({"deploy_map": {"app": ["server"]}}, "name must be a non-empty string"),
    ({"name": "j", "deploy_map": {}}, "deploy_map must be a non-empty object"),
    ({"name": "j", "deploy_map": {"app": []}}, r"deploy_map\['app'\] must be a non-empty list"),
    ({"name": "j", "deploy_map": {"missing": ["server"]}}, "app folder 'missing'"),
    ({"name": "j", "deploy_map": {"../x": ["server"]}}, "not a plain folder name"),
    ({"name": "j", "deploy_map": {"app": ["site-1"]}, "min_clients": 2}, "min_clients is 2 but deploy_map names only 1"),
    ({"name": "j", "deploy_map": {"app": ["site-1"]}, "min_clients": -1}, "min_clients must be an integer"),
    ({"name": "j", "deploy_map": {"app": ["site-1"]}, "mandatory_clients": ["site-9"]}, "site-9 are not in deploy_map"),
    ({"name": "j", "deploy_map": {"app": ["server"]}, "resource_spec": []}, "resource_spec must be an object"),
])
def test_validation_rules(tmp_path: Path, meta: dict, message: str) -> None:
    with pytest.raises(JobDefinitionError, match=message):
        validate_job_folder(job(tmp_path, meta))


def test_configs_and_meta_json_problems(tmp_path: Path) -> None:
    folder = job(tmp_path, {"name": "j", "deploy_map": {"app": ["server", "site-1"]}}, {"app": ("server",)})
    with pytest.raises(JobDefinitionError, match="config_fed_client.json is missing"):
        validate_job_folder(folder)
    (folder / "meta.json").write_text('{"name": "j",\n "deploy_map": }')
    with pytest.raises(JobDefinitionError, match="not valid JSON .* line 2"):
        validate_job_folder(folder)
    (folder / "meta.json").unlink()
    with pytest.raises(JobDefinitionError, match="meta.json is missing"):
        validate_job_folder(folder)
    two = job(tmp_path / "two", {"name": "j", "deploy_map": {"a": ["site-1"], "b": ["site-1"]}},
              {"a": ("client",), "b": ("client",)})
    with pytest.raises(JobDefinitionError, match="deployed by both"):
        validate_job_folder(two)
    every = job(tmp_path / "all", {"name": "j", "deploy_map": {"app": ["server", "@ALL"]}, "min_clients": 5})
    definition = validate_job_folder(every)
    assert definition.all_sites and definition.min_clients == 5


def test_zip_round_trip_skips_caches(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(EXAMPLES / "hello-server", source)
    (source / "app" / "custom" / "__pycache__").mkdir()
    (source / "app" / "custom" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    zip_job_folder(source, tmp_path / "job.zip")
    names = zipfile.ZipFile(tmp_path / "job.zip").namelist()
    assert "meta.json" in names and not any("__pycache__" in n for n in names)
    safe_extract(tmp_path / "job.zip", tmp_path / "out", max_total_bytes=1 << 20)
    assert validate_job_folder(tmp_path / "out").name == "hello-server"


def _zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def test_hostile_archives_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cases = {
        "climb": ([("../evil.txt", b"x")], "climbs out"),
        "absolute": ([("/etc/evil", b"x")], "absolute path"),
        "drive": ([("C:/evil", b"x")], "absolute path"),
        "backslash": ([("..\\evil", b"x")], "climbs out"),
    }
    for name, (entries, message) in cases.items():
        with pytest.raises(UnsafeArchiveError, match=message):
            safe_extract(_zip(tmp_path / f"{name}.zip", entries), out, max_total_bytes=1 << 20)
    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(UnsafeArchiveError, match="is a link"):
        safe_extract(_zip(tmp_path / "link.zip", [(link, b"/etc/passwd")]), out, max_total_bytes=1 << 20)
    with pytest.raises(UnsafeArchiveError, match="more than the limit"):
        safe_extract(_zip(tmp_path / "big.zip", [("big", b"0" * 5000)]), out, max_total_bytes=1000)
    with pytest.raises(UnsafeArchiveError, match="entries"):
        safe_extract(_zip(tmp_path / "many.zip", [(f"f{i}", b"") for i in range(20)]), out, max_total_bytes=1 << 20,
                     max_entries=10)
    (tmp_path / "corrupt.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(JobDefinitionError, match="not a valid zip archive"):
        safe_extract(tmp_path / "corrupt.zip", out, max_total_bytes=1 << 20)
    assert not (tmp_path / "evil.txt").exists()


def test_lying_sizes_are_caught_while_writing(tmp_path: Path) -> None:
    bomb = _zip(tmp_path / "bomb.zip", [("bomb", b"\0" * 100_000)])
    raw = bytearray(bomb.read_bytes())
    # Rewrite the declared uncompressed size (central directory) to claim 10 bytes.
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24:central + 28] = (10).to_bytes(4, "little")
    bomb.write_bytes(bytes(raw))
    with pytest.raises(JobDefinitionError):
        safe_extract(bomb, tmp_path / "out", max_total_bytes=1000)
    assert not (tmp_path / "out" / "bomb").exists() or (tmp_path / "out" / "bomb").stat().st_size <= 1000


def test_links_out_of_a_job_folder_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(EXAMPLES / "hello-server", source)
    (tmp_path / "secret").write_text("x")
    (source / "app" / "custom" / "secret").symlink_to(tmp_path / "secret")
    with pytest.raises(JobDefinitionError, match="outside the folder"):
        zip_job_folder(source, tmp_path / "job.zip")
