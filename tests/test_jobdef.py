"""console.jobdef: FLARE's job folder rules, and zip archives that cannot escape their target.

Hostile archives are built by hand with zipfile; every refusal must also leave the
target as it was.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import warnings
import zipfile
from pathlib import Path

import pytest

from console.jobdef.archive import UnsafeArchiveError, safe_extract
from console.jobdef.packing import TRUNCATION_NOTE, KnownFiles, zip_dir_to_file, zip_job_folder
from console.jobdef.validate import JobDefinition, JobDefinitionError, validate_job_folder

from conftest import EXAMPLES

MB = 1 << 20


def make_job(root: Path, meta: dict | str, apps: dict[str, tuple[str, ...]] | None = None) -> Path:
    """A job folder; ``apps`` maps app name -> the sides ("server", "client") that get a config."""
    folder = root / "job"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    for app, sides in (apps if apps is not None else {"app": ("server", "client")}).items():
        (folder / app / "config").mkdir(parents=True)
        for side in sides:
            (folder / app / "config" / f"config_fed_{side}.json").write_text('{"args": {}}')
    return folder


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hostile_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we build on purpose
        for name, data in entries:
            archive.writestr(name, data)
    return path


# --- examples and what a definition reports -------------------------------------------------

def test_the_examples_validate() -> None:
    hello = validate_job_folder(EXAMPLES / "hello-server")
    assert hello == JobDefinition(
        name="hello-server", deploy_map={"app": ["server"]}, min_clients=0, mandatory_clients=[],
        resource_spec={}, apps=["app"], has_custom_code=True, deploys_to_server=True, sites=[], all_sites=False,
    )
    assert hello.meta_fields() == {"name": "hello-server", "deploy_map": {"app": ["server"]}, "min_clients": 0,
                                   "resource_spec": {}}
    fail = validate_job_folder(str(EXAMPLES / "hello-server-fail"))
    assert fail.name == "hello-server-fail" and fail.has_custom_code and fail.deploys_to_server


def test_defaults_and_derived_fields(tmp_path: Path) -> None:
    meta = {"name": "j", "deploy_map": {"srv": ["server"], "cli": ["site-1", "site-2"]}}
    definition = validate_job_folder(make_job(tmp_path, meta, {"srv": ("server",), "cli": ("client",)}))
    assert definition.min_clients == 1 and definition.mandatory_clients == [] and definition.resource_spec == {}
    assert definition.sites == ["site-1", "site-2"] and not definition.all_sites
    assert definition.apps == ["srv", "cli"] and definition.deploys_to_server and not definition.has_custom_code
    every = validate_job_folder(make_job(tmp_path / "all", {"name": "j", "deploy_map": {"app": ["@ALL"]},
                                                            "min_clients": 7, "mandatory_clients": ["x"]},
                                         {"app": ("server", "client")}))
    # FLARE's @ALL takes in the server as well as every site.
    assert every.all_sites and every.sites == [] and every.min_clients == 7 and every.deploys_to_server
    empty_custom = make_job(tmp_path / "custom", {"name": "j", "deploy_map": {"app": ["server"]}})
    (empty_custom / "app" / "custom").mkdir()
    assert not validate_job_folder(empty_custom).has_custom_code


# --- each validation rule, with the message the user sees -----------------------------------

@pytest.mark.parametrize("meta, message", [
    ({"name": 3, "deploy_map": {"app": ["server"]}}, "name must be text, not 3"),
    # Infinity (and NaN) are not JSON: refused as such, before any rule (stored, no answer could carry them).
    ({"deploy_map": {"app": ["server", "site-1"]}, "min_clients": float("inf")},
     r"meta.json is not valid JSON \(Infinity is not JSON: numbers must be finite\)"),
    ({"name": "j", "deploy_map": {"app": ["server"]}, "resource_spec": {"site-1": {"mem": float("nan")}}},
     r"meta.json is not valid JSON \(NaN is not JSON"),
    ({"name": "j"}, "deploy_map is missing or empty"),
    ({"name": "j", "deploy_map": {}}, "deploy_map is missing or empty"),
    ({"name": "j", "deploy_map": ["app"]}, "deploy_map must be an object"),
    ({"name": "j", "deploy_map": {"app": []}}, "deploy_map names no target"),
    ({"name": "j", "deploy_map": {"app": 3}}, r"deploy_map\['app'\] must be a list"),
    ({"name": "j", "deploy_map": {"app": ["server", 3]}}, r"deploy_map\['app'\] entries must be names or objects"),
    ({"name": "j", "deploy_map": {"app": {"where": ["server"]}}}, "without 'targets' or 'sites'"),
    ({"name": "j", "deploy_map": {"app": [{"sites": ["server"], "x": 1}]}}, r"unknown key\(s\) \['x'\]"),
    ({"name": "j", "deploy_map": {"app": ["server", "site-1,site-2"]}}, "'site-1,site-2', which is not a site name"),
    ({"name": "j", "deploy_map": {"../x": ["server"]}}, "'../x' is not a plain folder name"),
    ({"name": "j", "deploy_map": {"a/b": ["server"]}}, "'a/b' is not a plain folder name"),
    ({"name": "j", "deploy_map": {"..": ["server"]}}, "'..' is not a plain folder name"),
    ({"name": "j", "deploy_map": {"a@b": ["server"]}}, "'a@b' is not a plain folder name"),
    ({"name": "j", "deploy_map": {"missing": ["server"]}}, "app folder 'missing' named in deploy_map does not exist"),
    ({"name": "j", "deploy_map": {"app": ["site-1", "site-2"]}}, "the server is missing from deploy_map"),
    ({"name": "j", "deploy_map": {"app": ["server", "@ALL"]}}, 'uses "@ALL", so it can name no other target'),
    ({"name": "j", "deploy_map": {"app": ["@ALL", "@all"]}}, 'uses "@ALL", so it can name no other target'),
    ({"name": "j", "deploy_map": {"app": ["server", "site-1", "site-1"]}}, "'site-1' deployed more than once"),
    ({"name": "j", "deploy_map": {"app": ["server", "site-1"]}, "min_clients": 2},
     "min_clients is 2 but deploy_map names only 1 site"),
    ({"name": "j", "deploy_map": {"app": ["server"]}, "min_clients": 1}, "min_clients is 1 but deploy_map names only 0"),
    ({"name": "j", "deploy_map": {"app": ["server", "site-1"]}, "min_clients": -1}, "must be positive"),
    ({"name": "j", "deploy_map": {"app": ["server", "site-1"]}, "min_clients": 0}, "must be positive"),
    ({"name": "j", "deploy_map": {"app": ["@ALL"]}, "min_clients": 1_000_001}, "must be less than 1000000"),
    ({"name": "j", "deploy_map": {"app": ["server", "site-1"]}, "min_clients": "two"}, "must be a whole number"),
    ({"name": "j", "deploy_map": {"app": ["server", "site-1"]}, "min_clients": [1]}, "must be a whole number"),
    ({"name": "j", "deploy_map": {"app": ["server", "site-1"]}, "mandatory_clients": ["site-9"]},
     "mandatory client.* site-9 are not in deploy_map"),
    ({"name": "j", "deploy_map": {"app": ["server", "site-1"]}, "mandatory_clients": "site-1"},
     "mandatory_clients must be a list of site names"),
    ({"name": "j", "deploy_map": {"app": ["server"]}, "resource_spec": []}, "resource_spec must be an object"),
    ({"name": "j", "deploy_map": {"app": ["server"]}, "resource_spec": {"site-1": 2}},
     r"resource_spec\['site-1'\] must be an object"),
    ({"name": "j", "deploy_map": {"app": ["server"]}, "resource_spec": {"site-1": {"num_of_gpus": -1}}},
     "num_of_gpus must be an integer greater than or equal to 0"),
    ({"name": "j", "deploy_map": {"app": ["server"]}, "resource_spec": {"@default": {"disk": 1}}},
     r"unsupported field\(s\): \['disk'\]"),
    ({"name": "j", "deploy_map": {"app": ["server"]}, "resource_spec": {"s": {"docker": {"privileged": True}}}},
     "unsupported job-controlled Docker option"),
    ({"name": "j", "deploy_map": {"app": ["server"]}, "launcher_spec": {"s": {"vm": {}}}},
     "unknown launcher mode 'vm'"),
    ({"name": "j", "deploy_map": {"app": ["server"]}, "job_id": "../x"}, "job_id '../x' is not a valid job ID"),
])
def test_each_rule_has_its_message(tmp_path: Path, meta: dict, message: str) -> None:
    folder = make_job(tmp_path, meta)
    before = tree(folder)
    with pytest.raises(JobDefinitionError, match=message):
        validate_job_folder(folder)
    assert tree(folder) == before  # validation is read-only


def test_meta_json_problems(tmp_path: Path) -> None:
    folder = make_job(tmp_path, '{"name": "j",\n  "deploy_map": }')
    with pytest.raises(JobDefinitionError, match=r"meta.json is not valid JSON \(Expecting value at line 2"):
        validate_job_folder(folder)
    (folder / "meta.json").write_text('["not", "an", "object"]')
    with pytest.raises(JobDefinitionError, match="meta.json must hold a JSON object, not list"):
        validate_job_folder(folder)
    (folder / "meta.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(JobDefinitionError, match="meta.json is not UTF-8"):
        validate_job_folder(folder)
    (folder / "meta.json").unlink()
    with pytest.raises(JobDefinitionError, match="meta.json is missing: add meta.json"):
        validate_job_folder(folder)
    (folder / "meta.json").mkdir()
    with pytest.raises(JobDefinitionError, match="meta.json is a folder"):
        validate_job_folder(folder)


DEEP = "[" * 30_000  # RecursionError in json.loads
LONG_INT = '{"args": {"n": ' + "7" * 5_000 + "}}"  # ValueError: Exceeds the limit (4300 digits)


@pytest.mark.parametrize("text, why", [(DEEP, "too deeply"), (LONG_INT, "number in it cannot be read")])
@pytest.mark.parametrize("file", ["meta.json", "app/config/config_fed_server.json", "app/config/config_fed_client.json"])
def test_json_that_python_cannot_parse_names_the_file(tmp_path: Path, file: str, text: str, why: str) -> None:
    folder = make_job(tmp_path, {"name": "j", "deploy_map": {"app": ["@ALL"]}})
    (folder / file).write_text(text)
    with pytest.raises(JobDefinitionError, match=rf"{file} is not valid JSON \(.*{why}"):
        validate_job_folder(folder)


def test_configs_must_exist_where_the_app_deploys(tmp_path: Path) -> None:
    to_site = make_job(tmp_path / "a", {"name": "j", "deploy_map": {"app": ["server", "site-1"]}},
                       {"app": ("server",)})
    with pytest.raises(JobDefinitionError, match="app/config/config_fed_client.json is missing"):
        validate_job_folder(to_site)
    to_all = make_job(tmp_path / "b", {"name": "j", "deploy_map": {"app": ["@ALL"]}}, {"app": ("server",)})
    with pytest.raises(JobDefinitionError, match="config_fed_client.json is missing"):
        validate_job_folder(to_all)
    all_no_server = make_job(tmp_path / "d", {"name": "j", "deploy_map": {"app": ["@ALL"]}}, {"app": ("client",)})
    with pytest.raises(JobDefinitionError, match="app/config/config_fed_server.json is missing"):
        validate_job_folder(all_no_server)
    to_server = make_job(tmp_path / "c", {"name": "j", "deploy_map": {"app": ["server"]}}, {"app": ("client",)})
    with pytest.raises(JobDefinitionError, match="app/config/config_fed_server.json is missing"):
        validate_job_folder(to_server)
    (to_server / "app" / "config" / "config_fed_server.json").write_text("[1]")
    with pytest.raises(JobDefinitionError, match="config_fed_server.json must hold a JSON object"):
        validate_job_folder(to_server)
    (to_server / "app" / "config" / "config_fed_server.json").write_text("{,}")
    with pytest.raises(JobDefinitionError, match="config_fed_server.json is not valid JSON .*line 1"):
        validate_job_folder(to_server)
    (to_server / "app" / "config" / "config_fed_server.json").unlink()
    (to_server / "app" / "config" / "config_fed_server.json").mkdir()
    with pytest.raises(JobDefinitionError, match="config_fed_server.json is a folder"):
        validate_job_folder(to_server)


def test_a_target_runs_one_app(tmp_path: Path) -> None:
    folder = make_job(tmp_path, {"name": "j", "deploy_map": {"a": ["server", "site-1"], "b": ["site-2", "site-1"]}},
                      {"a": ("server", "client"), "b": ("client",)})
    with pytest.raises(JobDefinitionError, match="'site-1' deployed more than once"):
        validate_job_folder(folder)


@pytest.mark.parametrize("deploy_map, sites, all_sites", [
    ({"app": ["@all"]}, [], True),  # FLARE matches @ALL in any case
    ({"app": ["@ALL"], "app2": []}, [], True),  # an app deployed nowhere beside @ALL
    ({"app": "@ALL"}, [], True),
    ({"app": {"targets": ["server", "site-1"]}}, ["site-1"], False),
    ({"app": {"sites": ["server", "site-1"]}}, ["site-1"], False),
    ({"app": [{"sites": ["server"]}, "site-1", {"targets": ["site-2"]}]}, ["site-1", "site-2"], False),
    ({"app": ["server"], "app2": ["site-1", "site-2"]}, ["site-1", "site-2"], False),
])
def test_every_deploy_map_form_flare_accepts(tmp_path: Path, deploy_map: dict, sites: list, all_sites: bool) -> None:
    apps = {app: ("server", "client") for app in deploy_map}
    definition = validate_job_folder(make_job(tmp_path, {"name": "j", "deploy_map": deploy_map}, apps))
    assert (definition.sites, definition.all_sites) == (sites, all_sites)
    assert definition.deploy_map == deploy_map  # stored as written, as FLARE stores it


def test_min_clients_as_flare_converts_it(tmp_path: Path) -> None:
    meta = {"deploy_map": {"app": ["server", "site-1", "site-2"]}, "min_clients": "2"}
    definition = validate_job_folder(make_job(tmp_path, meta))
    # FLARE's validator takes anything int() takes; ours stores the number it checked.
    assert definition.min_clients == 2 and definition.name == "job"  # no name: the folder's
    (definition_folder := tmp_path / "job" / "meta.json").write_text(json.dumps({**meta, "name": " "}))
    assert validate_job_folder(definition_folder.parent).name == "job"


def test_folder_names_flare_refuses(tmp_path: Path) -> None:
    folder = make_job(tmp_path, {"name": "j", "deploy_map": {"app": ["server"]}})
    spaced = folder.rename(tmp_path / "my job")
    with pytest.raises(JobDefinitionError, match="job folder name 'my job' contains unsupported characters"):
        validate_job_folder(spaced)
    with pytest.raises(JobDefinitionError, match="job folder name '-x'"):
        validate_job_folder(spaced, "-x")


def test_other_config_formats_are_named(tmp_path: Path) -> None:
    folder = make_job(tmp_path, {"name": "j", "deploy_map": {"app": ["server"]}}, {"app": ()})
    (folder / "app" / "config" / "config_fed_server.conf").write_text("{}")
    with pytest.raises(JobDefinitionError, match="config_fed_server.conf is there, but flare-console reads JSON"):
        validate_job_folder(folder)
    (folder / "meta.json").unlink()
    (folder / "meta.yml").write_text("name: j\n")
    with pytest.raises(JobDefinitionError, match="meta.yml is there"):
        validate_job_folder(folder)
    (folder / "meta.json").write_text("{}")
    with pytest.raises(JobDefinitionError, match="meta.json is empty"):
        validate_job_folder(folder)


def test_the_folder_itself(tmp_path: Path) -> None:
    with pytest.raises(JobDefinitionError, match="no job folder given"):
        validate_job_folder("")
    with pytest.raises(JobDefinitionError, match="file system root"):
        validate_job_folder(Path("/"))
    with pytest.raises(JobDefinitionError, match="is not a folder"):
        validate_job_folder(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(JobDefinitionError, match="is not a folder"):
        validate_job_folder(tmp_path / "file")
    assert not (tmp_path / "nowhere").exists()


def test_an_app_folder_linking_out_is_refused(tmp_path: Path) -> None:
    folder = make_job(tmp_path, {"name": "j", "deploy_map": {"app": ["server"]}}, {})
    shutil.copytree(EXAMPLES / "hello-server" / "app", tmp_path / "elsewhere")
    (folder / "app").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(JobDefinitionError, match="app folder 'app' is a link out of the job folder"):
        validate_job_folder(folder)


# --- zipping ---------------------------------------------------------------------------------

def test_zip_and_extract_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(EXAMPLES / "hello-server", source)
    custom = source / "app" / "custom"
    (custom / "__pycache__").mkdir()
    (custom / "__pycache__" / "hello.cpython-311.pyc").write_bytes(b"junk")
    (custom / "stale.pyc").write_bytes(b"junk")
    (source / ".DS_Store").write_bytes(b"junk")
    (custom / "pkg" / "sub").mkdir(parents=True)
    (custom / "pkg" / "sub" / "data.bin").write_bytes(os.urandom(3000))
    os.utime(custom / "hello.py", (0, 0))  # before zip's 1980 epoch: still archived
    zip_job_folder(source, tmp_path / "job.zip")
    with zipfile.ZipFile(tmp_path / "job.zip") as archive:
        names = archive.namelist()
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
    assert names == sorted(names) and "meta.json" in names and "app/custom/pkg/sub/data.bin" in names
    assert not any("__pycache__" in n or n.endswith((".pyc", ".DS_Store")) or "\\" in n for n in names)
    buffer = io.BytesIO()
    zip_job_folder(source, buffer)
    assert zipfile.ZipFile(buffer).namelist() == names  # same order whatever the target
    safe_extract(tmp_path / "job.zip", tmp_path / "out", max_total_bytes=MB)
    expected = {k: v for k, v in tree(source).items() if "__pycache__" not in k and not k.endswith((".pyc", "Store"))}
    assert tree(tmp_path / "out") == expected
    assert validate_job_folder(tmp_path / "out").name == "hello-server"


def test_links_out_of_a_job_folder_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(EXAMPLES / "hello-server", source)
    (tmp_path / "secret").write_text("secret")
    (tmp_path / "secrets").mkdir()
    inside = source / "app" / "custom" / "alias.py"
    inside.symlink_to(source / "app" / "custom" / "hello.py")
    zip_job_folder(source, tmp_path / "ok.zip")  # a link that stays inside is fine: its content goes in
    with zipfile.ZipFile(tmp_path / "ok.zip") as archive:
        assert archive.read("app/custom/alias.py") == (source / "app" / "custom" / "hello.py").read_bytes()
    for name, target in (("file-link", tmp_path / "secret"), ("dir-link", tmp_path / "secrets")):
        link = source / "app" / name
        link.symlink_to(target)
        with pytest.raises(JobDefinitionError, match=f"{name} is a link to .*, outside the folder"):
            zip_job_folder(source, tmp_path / "job.zip")
        assert not (tmp_path / "job.zip").exists() and not list(tmp_path.glob("*.part"))
        link.unlink()
    with pytest.raises(JobDefinitionError, match="is not a folder"):
        zip_job_folder(tmp_path / "nowhere", tmp_path / "job.zip")


def test_workspace_archive_skips_what_it_must_not_ship(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "models").mkdir(parents=True)
    (workspace / "log.txt").write_text("log\n")
    (workspace / "models" / "m.npz").write_bytes(b"model")
    (tmp_path / "secret").write_text("secret")
    (workspace / "leak").symlink_to(tmp_path / "secret")
    (workspace / "leakdir").symlink_to(tmp_path)
    os.mkfifo(workspace / "fifo")  # opening it to read would block forever
    out = workspace / "result.zip"  # an archive written into the folder does not archive itself
    zip_dir_to_file(workspace, out, arcname_prefix="server/")
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["server/log.txt", "server/models/m.npz"]


def test_workspace_archive_leaves_out_the_jobs_copies_and_keeps_results_first(tmp_path: Path) -> None:
    """Scale 7, finding 1: the app unpacked from job.zip is not archived again (a file the job
    changed is), and over the limit the logs, metrics and final model are kept before the rest."""
    job = tmp_path / "job"
    (job / "app" / "config").mkdir(parents=True)
    (job / "app" / "config" / "config_fed_server.json").write_text("{}")
    (job / "app" / "initial.npz").write_bytes(os.urandom(4000))
    (job / "app" / "notes.txt").write_text("as submitted")
    zip_job_folder(job, tmp_path / "job.zip")
    workspace = tmp_path / "ws"
    shutil.copytree(job / "app", workspace / "app_server")
    (workspace / "app_server" / "notes.txt").write_text("changed by the job")  # same name, other content
    (workspace / "models").mkdir()
    (workspace / "models" / "final_model.npz").write_bytes(os.urandom(3000))
    (workspace / "models" / "metrics.json").write_text("[]")
    (workspace / "models" / "round_1.npz").write_bytes(os.urandom(1500))
    (workspace / "scratch.bin").write_bytes(os.urandom(100))
    (workspace / "log.txt").write_text("log\n")
    known = KnownFiles(tmp_path / "job.zip", "app", "app_server")
    left_out = zip_dir_to_file(workspace, tmp_path / "all.zip", known=known)
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        assert archive.namelist() == ["app_server/notes.txt", "log.txt", "models/final_model.npz",
                                      "models/metrics.json", "models/round_1.npz", "scratch.bin"]
    assert left_out == []
    left_out = zip_dir_to_file(workspace, tmp_path / "cut.zip", known=known, max_bytes=3050)  # results: 3006
    assert left_out == ["scratch.bin (100 bytes)", "models/round_1.npz (1500 bytes)"]
    with zipfile.ZipFile(tmp_path / "cut.zip") as archive:
        assert "models/final_model.npz" in archive.namelist() and "log.txt" in archive.namelist()
        assert "scratch.bin (100 bytes)" in archive.read(TRUNCATION_NOTE).decode()


# --- extracting hostile archives -------------------------------------------------------------

def _link_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("app/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("entries, message", [
    ([("../evil.txt", b"x")], "'../evil.txt' climbs out with '..'"),
    ([("app/../../evil.txt", b"x")], "climbs out with '..'"),
    ([("..\\evil.txt", b"x")], "climbs out with '..'"),
    ([("/etc/evil", b"x")], "'/etc/evil' has an absolute path"),
    ([("C:/evil", b"x")], "has an absolute path"),
    ([("C:evil", b"x")], "has an absolute path"),
    ([("\\\\server\\share\\evil", b"x")], "has an absolute path"),
    ([(_link_entry(), b"/etc/passwd")], "'app/link' is a link; links are not allowed"),
    ([("a", b"1"), ("a", b"2")], "'a' appears twice"),
    ([("a", b"1"), ("a/b", b"2")], "is both a file and a folder"),
    ([("big", b"0" * 5000)], "unpacks to 5002 bytes, more than the limit of 1000"),
    ([(f"f{i}", b"") for i in range(10)], "archive has 11 entries; the limit is 10"),
])
def test_hostile_entries_are_refused_before_anything_is_written(tmp_path: Path, entries: list,
                                                                  message: str) -> None:
    archive = hostile_zip(tmp_path / "hostile.zip", [("meta.json", b"{}"), *entries])
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract(archive, tmp_path / "out" / "dest", max_total_bytes=1000, max_entries=10)
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_a_lying_size_header_cannot_fill_the_disk(tmp_path: Path) -> None:
    bomb = hostile_zip(tmp_path / "bomb.zip", [("ok.txt", b"fine"), ("bomb", b"\0" * 200_000)])
    raw = bytearray(bomb.read_bytes())
    # Claim 10 bytes for "bomb" in both its local header and its central directory record.
    local = raw.rfind(b"PK\x03\x04", 0, raw.find(b"bomb"))
    raw[local + 22:local + 26] = (10).to_bytes(4, "little")
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24:central + 28] = (10).to_bytes(4, "little")
    bomb.write_bytes(bytes(raw))
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "kept.txt").write_text("was here before")
    with pytest.raises(JobDefinitionError):
        safe_extract(bomb, dest, max_total_bytes=1000)
    assert tree(dest) == {"kept.txt": b"was here before"}  # the entries already written are undone


@pytest.mark.parametrize("damage, message", [
    ("garbage", "not a valid zip archive"),
    ("truncated", "not a valid zip archive"),
    ("stream", "not a valid zip archive: entry 'data'"),
    ("method", "not a valid zip archive: entry 'data'"),
    ("encrypted", "'data' is encrypted"),
])
def test_corrupt_archives_are_refused(tmp_path: Path, damage: str, message: str) -> None:
    path = tmp_path / "broken.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data", os.urandom(2000) * 4)
    raw = bytearray(path.read_bytes())
    central = raw.rfind(b"PK\x01\x02")
    if damage == "garbage":
        raw = bytearray(b"PK\x03\x04 this is not a zip")
    elif damage == "truncated":
        raw = raw[: len(raw) // 2]
    elif damage == "stream":
        raw[40:80] = b"\xff" * 40  # inside the deflate stream
    elif damage == "method":
        for header, offset in ((0, 8), (central, 10)):
            raw[header + offset:header + offset + 2] = (99).to_bytes(2, "little")  # AES: unsupported
    elif damage == "encrypted":
        for header, offset in ((0, 6), (central, 8)):
            raw[header + offset] |= 0x1
    path.write_bytes(bytes(raw))
    with pytest.raises(JobDefinitionError, match=message):
        safe_extract(path, tmp_path / "out", max_total_bytes=MB)
    assert not (tmp_path / "out").exists()
    with pytest.raises(JobDefinitionError, match="not a valid zip archive"):
        safe_extract(tmp_path / "missing.zip", tmp_path / "out", max_total_bytes=MB)
