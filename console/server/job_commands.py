"""Server side of the job commands: submit, clone, list, meta, abort, delete, download."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from cryptography import x509

from console.commands import Right
from console.jobdef.archive import JobLimits, content_hash
from console.jobdef.bounds import MAX_FOLDER_NAME_CHARS, check_text, submit_token_problem
from console.jobdef.code import job_code
from console.jobdef.signing import certificate_pem, cloned_signer, verify_archive
from console.jobdef.validate import JobDefinitionError, validate_job_folder
from console.log_floods import per_peer
from console.runtime.limits import cut
from console.server.audit import UNCHANGED
from console.server.authz import principal
from console.server.handlers import handles
from console.server.job_access import MetaView, job_meta, may_view, require_on_job, resolve_job, view_filter
from console.server.job_queries import no_such_job, running_duration
from console.server.scheduler import required_sites
from console.server.status import JobStatus
from console.server.store import SIGNATURE_FILE, Submitter
from console.server.submit_records import RECORD_JOB_DELETED, SubmitRecord, SubmitTokenUsed
from console.wire.errors import ErrorType, RemoteError
from console.wire.request_context import RequestContext, StreamedParts

log = logging.getLogger("console.server.job_commands")


def _validate_archive(archive: Path, scratch_root: Path, limits: JobLimits,
                      folder_name: str) -> tuple[dict[str, Any], list[str]]:
    """Extract into scratch space (held to the server's job limits) and validate (``folder_name``:
    the user's folder name): the job's meta fields and the code it brings (why it is custom code),
    or InvalidJobDefinition."""
    scratch = Path(tempfile.mkdtemp(dir=scratch_root))
    try:
        limits.extract(archive, scratch)
        definition = validate_job_folder(scratch, folder_name)
        fields = definition.meta_fields()
        code: list[str] = []
        if definition.has_custom_code:
            fields["byoc"] = True  # as FLARE: the key is there only when the job ships custom code
            code = job_code(scratch)
        return fields, code
    except JobDefinitionError as exc:
        raise RemoteError(ErrorType.INVALID_JOB_DEFINITION, str(exc)) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _check_signature(ctx: RequestContext, archive: Path, signature: str) -> bytes:
    """Verify the upload against the uploader's own certificate; the record kept for the sites."""
    der = ctx.connection.peer_cert_der
    if der is None:
        raise RemoteError(ErrorType.AUTHENTICATION, "no client certificate to check the job's signature with")
    pem = certificate_pem(der)
    try:
        verify_archive(archive, signature, x509.load_pem_x509_certificate(pem.encode()))
    except JobDefinitionError as exc:
        raise RemoteError(ErrorType.INVALID_JOB_DEFINITION, str(exc)) from None
    return json.dumps({"signature": signature, "signed_by": ctx.user.name, "signer_pem": pem}).encode()


def _submitter(ctx: RequestContext) -> Submitter:
    return Submitter(ctx.user.name, ctx.user.org, ctx.user.role)


def _check_queue_share(ctx: RequestContext) -> None:
    """One submitter's backlog must not fill the queue for everyone."""
    limit = ctx.server.kit.job_limits.max_queued_per_submitter
    waiting = ctx.server.store.count_queued(ctx.user.name)
    if waiting >= limit:
        raise RemoteError(ErrorType.INVALID_ARGUMENT, f"{ctx.user.name} already has {waiting} jobs waiting to be "
                                                      f"scheduled (the limit is {limit}); wait for some to start, "
                                                      "or abort some")


async def _store_new_job(
    ctx: RequestContext, archive: Path, fields: dict[str, Any], folder_name: str, signature: bytes,
    cloned_from: str | None = None, submit_token: tuple[str, str] | None = None,
) -> str:
    """The new job's ID; SubmitTokenUsed if ``submit_token`` (token, content hash) is taken.

    From here the job is committed whatever happens to the request (``ctx.finish``): the store's
    write runs in a thread that a closed connection cannot call back, so the job, its SUBMITTED
    event and its audit line (done, with ``new_job_id``) all follow from it, never only some."""
    server = ctx.server
    _check_queue_share(ctx)
    job_id = str(uuid.uuid4())
    # The commit owns the archive from now on: the caller's clean-up (its finally) cannot pull it
    # away from under the write when the request is cancelled.
    owned = archive.with_name(f"{archive.name}.{job_id}")
    os.replace(archive, owned)

    async def commit() -> str:
        try:
            await asyncio.to_thread(
                server.store.create_job, job_id, owned, fields, folder_name, _submitter(ctx), cloned_from,
                {SIGNATURE_FILE: signature}, submit_token,
            )
        finally:
            owned.unlink(missing_ok=True)
        ctx.notes["new_job_id"] = job_id
        server.publish("job_status", {"job_id": job_id, "name": fields["name"], "status": JobStatus.SUBMITTED.value})
        server.scheduler.wake()
        return job_id

    return await ctx.finish(commit())


def _check_token(token: str | None) -> str | None:
    problem = submit_token_problem(token)
    if problem:
        raise RemoteError(ErrorType.INVALID_ARGUMENT, problem)
    return token


def _job_of_record(record: SubmitRecord, content: str | None = None) -> str:
    """The job a used submit token stands for, or FLARE 2.9's error for it."""
    if record.state == RECORD_JOB_DELETED:
        raise RemoteError(ErrorType.SUBMIT_TOKEN_JOB_DELETED,
                          "SUBMIT_TOKEN_JOB_DELETED: submit token refers to a deleted job. "
                          "Use a new submit token to submit again.",
                          {"job_id": record.job_id, "state": record.state, "deleted_time": record.deleted_time})
    if content is not None and record.content_hash != content:
        raise RemoteError(ErrorType.SUBMIT_TOKEN_CONFLICT,
                          "SUBMIT_TOKEN_CONFLICT: submit token was already used for different job content. "
                          "Use a new submit token for a new job.", {"existing_job_id": record.job_id})
    return record.job_id


@handles("submit_job")
async def submit_job(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    """A new job, or with ``submit_token`` the job that token already made (FLARE 2.9's retry-safe submit)."""
    server = ctx.server
    # The gate let any scoped condition pass; o:site is the server's org's (as FLARE's Authorizer).
    server.policy.require_here(principal(ctx.connection), Right.SUBMIT_JOB)
    token = _check_token(args.get("submit_token"))
    folder_name = Path(args["job_folder"]).name or "job"
    try:
        check_text(folder_name, "the job folder's name", MAX_FOLDER_NAME_CHARS)
    except JobDefinitionError as exc:
        raise RemoteError(ErrorType.INVALID_JOB_DEFINITION, str(exc)) from None
    used = server.store.submit_record(_submitter(ctx), token) if token else None
    if used is None:
        _check_queue_share(ctx)  # before the upload, so a refused one costs nothing
    archive = server.store.new_incoming_path()
    try:
        await ctx.receive_upload(archive, server.max_upload_bytes)
        signature = await asyncio.to_thread(_check_signature, ctx, archive, args["signature"])
        fields, code = await asyncio.to_thread(
            _validate_archive, archive, server.store.incoming_dir, server.kit.job_limits, folder_name
        )
        if fields.get("byoc"):
            server.policy.require_here(principal(ctx.connection), Right.BYOC,
                                       f"a job with custom code ({', '.join(code)})")
        content = await asyncio.to_thread(content_hash, archive) if token else None
        if used is not None:
            ctx.notes["job_id"] = _job_of_record(used, content)  # the job this token made before
            ctx.notes[UNCHANGED] = "a retry: its submit token made this job before"
            return {"job_id": ctx.notes["job_id"]}
        try:
            job_id = await _store_new_job(ctx, archive, fields, folder_name, signature,
                                          submit_token=(token, content) if token and content else None)
        except SubmitTokenUsed as exc:  # a retry that raced the first attempt
            ctx.notes["job_id"] = _job_of_record(exc.record, content)
            ctx.notes[UNCHANGED] = "a retry: its submit token made this job before"
            return {"job_id": ctx.notes["job_id"]}
    finally:
        archive.unlink(missing_ok=True)
    return {"job_id": job_id}


@handles("clone_job")
async def clone_job(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    store = ctx.server.store
    source_id = resolve_job(ctx, args["job_id"])
    meta = store.get(source_id)
    if meta is None:
        raise no_such_job(args["job_id"])
    require_on_job(ctx, Right.CLONE_JOB, meta)
    if meta.get("byoc"):
        ctx.server.policy.require_here(principal(ctx.connection), Right.BYOC, "a job with custom code")
    archive = store.new_incoming_path()
    try:
        await asyncio.to_thread(shutil.copyfile, store.job_zip(source_id), archive)
        # The clone keeps the source's archive and its signer's signature (the cloner holds no copy
        # to sign): it records that signer, whom the server and the sites then require (signing.py).
        signature = (store.job_dir(source_id) / SIGNATURE_FILE).read_bytes()
        fields = {k: meta[k] for k in ("name", "deploy_map", "min_clients", "mandatory_clients", "resource_spec",
                                       "byoc", "task_timeout") if k in meta}
        fields["signed_by"] = cloned_signer(meta)
        job_id = await _store_new_job(ctx, archive, fields, meta.get("job_folder_name", "job"), signature, source_id)
    finally:
        archive.unlink(missing_ok=True)
    return {"job_id": job_id}


@handles("get_job_meta")
async def get_job_meta(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    # The view right judged with the job's submitter, as FLARE 2.9's authorize_job_id does.
    return _meta_view(ctx).shown(job_meta(ctx, args["job_id"], Right.VIEW))


def _meta_view(ctx: RequestContext) -> MetaView:
    return MetaView(ctx.server.policy, principal(ctx.connection), ctx.server.store)


def with_running_duration(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with a RUNNING job's duration so far, as FLARE 2.9's list_jobs (``running_duration``)."""
    elapsed = running_duration(meta.get("status"), meta.get("start_time"))
    return meta if elapsed is None else {**meta, "duration": elapsed}


def list_row(meta: dict[str, Any]) -> dict[str, Any]:
    """A non-detailed ``list_jobs`` row with FLARE's keys."""
    return {
        "job_id": meta["job_id"],
        "job_name": meta.get("name"),
        "status": meta["status"],
        "submit_time": meta.get("submit_time_iso"),
        "duration": with_running_duration(meta).get("duration", "N/A"),
        "study": meta.get("study", "default"),
    }


@handles("list_jobs")
async def list_jobs(ctx: RequestContext, args: dict[str, Any]) -> list[dict[str, Any]]:
    token = _check_token(args.get("submit_token"))
    policy, user = ctx.server.policy, principal(ctx.connection)
    if token:
        # As FLARE 2.9: the job this submitter's token made, or SubmitTokenJobDeleted.
        record = ctx.server.store.submit_record(_submitter(ctx), token)
        meta = ctx.server.store.get(_job_of_record(record)) if record else None
        if meta is None or not may_view(policy, user, meta):
            return []
        return [with_running_duration(_meta_view(ctx).shown(meta)) if args["detailed"] else list_row(meta)]
    # Only the jobs the user's view right covers (all of them with FLARE's default "any").
    scope = view_filter(policy, user)
    if scope is None:
        return []
    if args["mine"]:
        scope = {**scope, "submitter": ctx.user.name}
    store = ctx.server.store
    chosen = {"id_prefix": args["id_prefix"], "name_prefix": args["name_prefix"], "reverse": args["reverse"],
              "limit": args["limit"], **scope}
    if args["detailed"]:  # with each job's errors; its round metrics are get_job_meta's (up to 2 MiB a job)
        shown = _meta_view(ctx).shown
        return [with_running_duration(shown(meta)) for meta in store.list_jobs(**chosen, with_errors=True)]
    # Without -d, SQLite picks the listed fields out of each meta: no job's meta is parsed here.
    return store.list_rows(**chosen)


def _already_ended(job_id: str) -> str:
    """abort_job's answer for a job already final: FLARE 2.9's words exactly, whatever the job ended with
    (a FLARE script may compare them whole: the FLARE API here is FLARE's name for name; its final status
    is get_job_meta's). ``benchmarks/conformance.py`` refused a text with the status added (session 12)."""
    return f"Job for {job_id} is already completed."


#: Seconds abort_job waits for a started job to be final before it answers that it is ending.
ABORT_ANSWER_WAIT = 10.0


@handles("abort_job")
async def abort_job(ctx: RequestContext, args: dict[str, Any]) -> str:
    server = ctx.server
    meta = job_meta(ctx, args["job_id"], Right.MANAGE_JOB)
    job_id, status = meta["job_id"], JobStatus(meta["status"])
    if status.is_final:
        ctx.notes[UNCHANGED] = "the job was final already"
        return _already_ended(job_id)
    if server.runner.is_active(job_id):
        # Started, but maybe not running yet (SUBMITTED here while its DISPATCHED is being stored): the
        # answer comes once the job is final, so a delete right after it works (FLARE 2.9 ends a job not
        # yet running at once), or says it is still ending after a bound.
        server.runner.abort(job_id)
        ended = await server.runner.ended(job_id, ABORT_ANSWER_WAIT)
        if status is not JobStatus.RUNNING:  # FLARE 2.9's words for a job not yet running
            return f"Aborted the job {job_id} before running it."
        if ended:
            return "Abort signal has been sent to the server app."
        return ("Abort signal has been sent to the server app; the job is still ending (its sites are "
                "stopping): list_jobs shows FINISHED:ABORTED once it ended")

    async def abort_stored() -> str:
        aborted = await server.change_status(job_id, JobStatus.FINISHED_ABORTED)
        if server.runner.is_active(job_id):  # the scheduler started it while ABORTED was being stored
            # answered once it let go, as above: a delete right after the answer works (CI under load saw
            # "still running" from delete_job after "Aborted the job ... before running it")
            server.runner.abort(job_id)
            await server.runner.ended(job_id, ABORT_ANSWER_WAIT)
        if aborted is None:
            ctx.notes[UNCHANGED] = "the job was final already"  # meanwhile (by the scheduler, another abort)
            return _already_ended(job_id)
        return f"Aborted the job {job_id} before running it."  # FLARE 2.9's words

    return await ctx.finish(abort_stored())


@handles("delete_job")
async def delete_job(ctx: RequestContext, args: dict[str, Any]) -> dict[str, Any]:
    server = ctx.server
    meta = job_meta(ctx, args["job_id"], Right.MANAGE_JOB)
    job_id = meta["job_id"]
    if server.runner.is_active(job_id) or meta["status"] in (JobStatus.DISPATCHED, JobStatus.RUNNING):
        # FLARE 2.9's words first ("job ... is still running"), then what to do, the command named with the job
        raise RemoteError(ErrorType.JOB_NOT_DONE, f"job {job_id} is still running; abort it before deleting it "
                                                  f"(abort_job {job_id}), or wait until it ends")

    async def delete() -> dict[str, Any]:
        # Not on the store's writer thread: removing a big job's files must not hold up other jobs' writes.
        marked = await asyncio.to_thread(server.store.delete_job, job_id, _submitter(ctx))
        if marked is None:  # the scheduler dispatched it meanwhile: deleted, it would run unseen on its sites
            raise RemoteError(ErrorType.JOB_NOT_DONE, f"job {job_id} was dispatched while it was being deleted; "
                                                      "abort it, then delete it")
        # When and by whom the job went is kept in the store (``console.server.deleted_jobs``: it
        # outlives log rotation and restarts, bounded per submitter and deleter), so this line may be
        # summed up per deleter like every line a peer repeats at will: a clone + delete loop pushes
        # no one's older lines out of log.txt (session 10's "not done", item 2 of session 11).
        log.info("job %s (%s, submitted by %s) deleted by %s", job_id, cut(str(meta.get("name") or ""), 64),
                 meta.get("submitter_name"), ctx.user.name, extra=per_peer(ctx.user.name))
        await asyncio.to_thread(shutil.rmtree, server.workspace / job_id, True)
        # Every copy goes: the sites' workspaces too (those away now, when they connect again).
        await server.sites.delete_job_workspaces(job_id, deployed_sites(meta))
        server.abandoned.forget(job_id)
        server.publish("job_deleted", {"job_id": job_id, "name": meta.get("name")}, meta)  # gone from the store
        return {"job_id": job_id, "submit_records_marked_deleted": marked}

    return await ctx.finish(delete())


def deployed_sites(meta: dict[str, Any]) -> set[str]:
    """Sites that may hold a workspace of the job: those its deploy_map names and those it went to."""
    named, _ = required_sites(meta)
    detail = meta.get("job_deploy_detail") or []
    went = {entry.split(":", 1)[0] for entry in detail if isinstance(entry, str) and ":" in entry}
    return (named | went) - {"server"}


def _result_files(job_dir: Path) -> list[tuple[str, Path]]:
    """The stored files of a job's result, in the order they are sent: ``job.zip`` (its definition),
    ``workspace.zip`` (the server's job workspace) and ``sites/<site>.zip`` (each site's)."""
    files = [("job.zip", job_dir / "job.zip"), ("workspace.zip", job_dir / "workspace.zip")]
    return files + [(f"sites/{site_zip.name}", site_zip) for site_zip in sorted((job_dir / "sites").glob("*.zip"))]


def open_result(store: Any, meta: dict[str, Any]) -> StreamedParts:
    """The job's result as it is stored, to be streamed as it is (no archive is built: the first byte
    goes at once): ``meta.json``, then each stored zip that exists (a job that never ran has no
    workspace), named in the head's ``parts`` (``name``, ``size`` in bytes) in the order sent.

    The files are open before the job's row is looked at again: delete_job removes the row before
    the files, so a row still there means every file was opened whole, and stays readable until the
    stream ends whatever a delete does meanwhile. A row gone means a delete came first: JobNotFound,
    naming the deletion, rather than a part of the result called the result."""
    job_id = meta["job_id"]
    opened: list[tuple[str, BinaryIO]] = []
    try:
        for name, path in _result_files(store.job_dir(job_id)):
            try:
                opened.append((name, open(path, "rb")))  # noqa: SIM115 - closed by StreamedParts.close
            except FileNotFoundError:
                continue
        if store.get(job_id) is None:
            raise RemoteError(ErrorType.JOB_NOT_FOUND, f"job {job_id} was deleted while its download was being "
                                                       "prepared; nothing of it was sent")
    except BaseException:
        for _, file in opened:
            file.close()
        raise
    parts = [("meta.json", json.dumps(meta, indent=2).encode()), *opened]
    answer = StreamedParts.of({"job_id": job_id}, [part for _, part in parts])
    answer.head["parts"] = [{"name": name, "size": size} for (name, _), size in zip(parts, answer.sizes, strict=True)]
    return answer


@handles("download_job")
async def download_job(ctx: RequestContext, args: dict[str, Any]) -> StreamedParts:
    store = ctx.server.store
    meta = job_meta(ctx, args["job_id"], Right.DOWNLOAD_JOB)
    job_id = meta["job_id"]
    if not JobStatus(meta["status"]).is_final:  # as FLARE 2.9: only a finished job's result
        raise RemoteError(ErrorType.JOB_NOT_DONE, f"job {job_id} is not done ({meta['status']}); "
                                                  "wait until it finishes, or abort it")
    # Archived at start after a crash: its result is whole once that is done (a bounded wait).
    await ctx.server.abandoned.wait_archived(job_id)
    # Opened here, on the loop, not in a thread: a few open() calls and one indexed read, and a
    # requester gone meanwhile cannot leave a file open.
    return open_result(store, _meta_view(ctx).shown(meta))
