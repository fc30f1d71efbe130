"""Completion: commands, options and argument values, from the registry and local data.

Only what the connected engine offers is proposed (``CommandSpec.engines``).

Never touches the network: job IDs and sites come from ``CompletionData``
(``console.shell.completion_data``), which the refresher fills in the background.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from console.commands import CATALOG, NAMES, SETTINGS, CommandSpec, Engine, Param, ParamKind, Transfer
from console.commands.spec import JobStates, Offer
from console.names import unseen_in
from console.shell import words
from console.shell.arg_position import attached_value, command_line_start, options_in, param_at, target_in
from console.shell.completion_data import MAX_JOB_COMPLETIONS, CompletionData, JobEntry
from console.shell.job_folders import is_job_folder, refused_for_its_name
from console.shell.job_menu import job_menu
from console.shell.options import flag_table
from console.shell.parse import command_spec, unquoted
from console.shell.remote_paths import RemoteFolders
from console.shell.safe_text import visible_line

#: Seconds after which completion data on an engine without pushes counts as stale.
STALE_AFTER = 10.0


class ShellCompleter(Completer):
    def __init__(
        self,
        data: Callable[[], CompletionData],
        themes: Callable[[], list[str]] = list,
        monitored: Callable[[], list[str]] = list,
        engine: Engine = Engine.OURS,
        stale: Callable[[], None] | None = None,
        upload_dir: Path | None = None,
        remote: RemoteFolders | None = None,
        may_run: Callable[[CommandSpec], bool] = lambda spec: True,
    ) -> None:
        self._data = data
        self._engine = engine
        self._themes = themes
        self._monitored = monitored
        self._stale = stale  # called when job data shown is older than STALE_AFTER (a refresh starts)
        self._paths = PathCompleter(only_directories=True, expanduser=True)
        self._files = PathCompleter(expanduser=True)  # where '>' writes: files and the folders to them
        self._upload_dir = upload_dir  # submit_job NAME also finds the job folder NAME there
        self._remote = remote  # names in the server's and sites' folders (ls, cat, ...)
        self._may_run = may_run  # whether this user holds the right for a command (as told at login)
        self._document: Document | None = None  # the line being completed
        self._event = CompleteEvent()
        #: The line (text, cursor) and whether Tab asked, where a remote folder's names were not known
        #: yet: when they arrive, the prompt completes that line if it still is the same.
        self.waiting: tuple[str, int, bool] | None = None

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        # While typing, a completion that would leave the word as typed is not offered: after Tab completed
        # "list_j" to "list_jobs", completion-while-typing would reopen the menu on that one entry.
        self._document, self._event = document, complete_event
        found = words.scan(document.text_before_cursor, commands=True)
        if found.comment:
            return
        target = _sink_target(document.text_before_cursor, found)
        if target is not None:  # after '>' or '>>': the local file the output goes to
            yield from self._sink_paths(target, complete_event)
            return
        typing = found.words[-1] if found.words and found.words[-1].end == len(document.text_before_cursor) else None
        raw = typing.raw if typing else ""
        for completion in self._completions(document.text_before_cursor, found, typing, complete_event):
            completion = _written(completion, typing)
            if completion is None:
                continue
            # Asked with Tab, the word as typed stays among the matches: alone, Tab takes it (and puts the
            # blank after it, ``keys.take_only``, as bash's readline after a whole word); with others
            # (site-1, site-10), the menu shows both instead of Tab taking the longer one.
            if complete_event.completion_requested or not (completion.text == raw
                                                           and completion.start_position == -len(raw)):
                yield completion

    def _completions(self, text: str, found: words.Scan, typing: words.Word | None,
                     complete_event: CompleteEvent) -> Iterator[Completion]:
        """What completes the word being typed (``typing``, None after a blank), as its value reads:
        quotes and escapes are ``_written``'s, once for every kind of value."""
        word = typing.value if typing else ""
        done = [w.value for w in found.words if w is not typing]
        if not done:
            yield from self._commands(word)
            return
        first = found.words[0].raw
        # psql's \x: its reading ate the backslash (not a line continuation: "\" and a line end, then the name)
        spec = command_spec(first if first.startswith("\\") and first[1:2] not in "\r\n" else done[0])
        if spec is None or not spec.supports(self._engine):
            return
        start = command_line_start(spec, done[1:])
        if start is not None and not (start == len(done) - 1 and word.startswith("-")):
            # watch -n 5 list_jobs ...: the inner command completes as a line of its own
            inner = text[found.words[start + 1].start:] if start + 1 < len(found.words) else ""
            within = words.scan(inner)
            last = within.words[-1] if typing is not None and within.words else None  # the same word as typing
            yield from self._completions(inner, within, last, complete_event)
            return
        attached = attached_value(spec, word)
        if attached is not None:  # -nhel, --format=j: the value in the option's own word
            yield from self._values(attached[0], attached[1], complete_event, done)
            return
        param = param_at(spec, done[1:])
        if param is not None and not word.startswith("-"):
            yield from self._values(param, word, complete_event, done)
        # Options where one may come: not in place of a flag's value or a required argument.
        if word.startswith("-") or (not word and (param is None or not (param.required or param.flag))):
            yield from self._options(spec, done[1:], word)

    def _sink_paths(self, target: str, event: CompleteEvent) -> Iterator[Completion]:
        """Files and folders for the word after ``>``/``>>`` (``target``: the text typed after it), as bash."""
        typed = words.scan(target).words
        typing = typed[-1] if typed and typed[-1].end == len(target) else None
        if len(typed) - (typing is not None) > 0:
            return  # one file name only (split_sink): a second word is refused
        word = typing.value if typing else ""
        hidden = os.path.basename(word).startswith(".")
        for c in self._files.get_completions(Document(word, len(word)), event):
            if not hidden and c.display_text.startswith("."):
                continue
            slash = "/" if os.path.isdir(os.path.expanduser(word + c.text)) and not c.text.endswith("/") else ""
            shown = c.display_text if c.display_text.endswith("/") else c.display_text + slash
            written = _written(Completion(c.text + slash, c.start_position, display=shown), typing)
            if written is not None:
                yield written

    def _commands(self, word: str) -> Iterator[Completion]:
        lowered = word.lower()
        for name in sorted(NAMES):
            if name.startswith(lowered) and NAMES[name].supports(self._engine) and name.isidentifier():
                yield Completion(name, -len(word), display_meta=NAMES[name].summary_on(self._engine))

    def _options(self, spec: CommandSpec, done: list[str], word: str) -> Iterator[Completion]:
        used = {option.flag for token in done for option in options_in(token, flag_table(spec)) or ()}
        flags = [(p.flag, p.help) for p in spec.typed_params if p.flag]
        if spec.destructive:
            flags.append(("--yes", "do not ask to confirm"))
        for flag, help_text in flags:
            if flag and flag.startswith(word) and flag not in used:
                yield Completion(flag, -len(word), display_meta=help_text)

    def _jobs(self, word: str, offer: Offer = Offer.ANY, takes: JobStates = JobStates.ANY) -> Iterator[Completion]:
        """The jobs the argument takes (``Param.jobs``: abort_job's not ended), those it offers first ahead."""
        data = self._data()
        if self._stale is not None and time.monotonic() - data.fetched > STALE_AFTER:
            self._stale()
        yield from job_menu(data.ranked_jobs(word, offer, takes=takes), word)

    def _values(self, param: Param, word: str, event: CompleteEvent, done: list[str]) -> Iterator[Completion]:
        kind = param.kind
        if kind is ParamKind.JOB_ID:
            yield from self._jobs(word, param.offer, param.jobs)
        elif kind is ParamKind.JOB_PREFIX:
            if word:  # a filter: the typed prefix stays a prefix unless a whole ID is picked
                yield from self._jobs(word)
        elif kind is ParamKind.JOB_NAME:
            yield from (Completion(n, -len(word), display=visible_line(n)) for n in self._data().job_names(word))
        elif kind is ParamKind.MONITOR:  # the monitored (followed) jobs in the same menu as other job IDs
            jobs = self._data().jobs
            yield from job_menu([jobs.get(j) or JobEntry(j, "", "") for j in self._monitored() if j.startswith(word)],
                                 word)
            if "all".startswith(word):
                yield Completion("all", -len(word))
        elif kind is ParamKind.CHOICE:
            yield from _plain(param.choices, word)
        elif kind is ParamKind.SETTING_VALUE:
            setting = done[1] if len(done) > 1 else ""
            yield from _plain(self._themes() if setting == "theme" else SETTINGS.get(setting, ()), word)
        elif kind is ParamKind.COMMAND:
            yield from (Completion(n, -len(word), display_meta=CATALOG[n].summary_on(self._engine))
                        for n in sorted(CATALOG) if n.startswith(word) and CATALOG[n].supports(self._engine))
        elif kind is ParamKind.THEME:
            yield from _plain(self._themes(), word)
        elif kind is ParamKind.SITE:
            data = self._data()
            connected = set(data.sites)
            sites = sorted(data.all_sites(), key=lambda s: not param.offer.first(connected=s in connected))
            yield from _plain(sites, word)
        elif kind is ParamKind.TARGET:
            yield from _plain(["server", *self._data().all_sites(), *param.choices], word)  # follow: "all"
        elif kind is ParamKind.LOCAL_PATH:
            yield from self._local_paths(word, event, uploads=spec_uploads(done))
        elif kind is ParamKind.REMOTE_PATH:
            yield from self._remote_paths(word, done)

    def _remote_paths(self, word: str, done: list[str]) -> Iterator[Completion]:
        """Names in the target's folder that ``word`` leads to, as the command would reach them: only
        for a user holding the command's right, never for an absolute path or one through ``..``
        (the file commands refuse both, on either engine)."""
        spec = command_spec(done[0]) if done else None
        if self._remote is None or spec is None or not self._may_run(spec):
            return
        target = target_in(spec, done[1:])
        folder, _, prefix = word.rpartition("/")
        parts = folder.split("/") if folder else []
        if not target or word.startswith("/") or ".." in parts:
            return
        listing = self._remote.names(target, "/".join(p for p in parts if p not in ("", ".")))
        if listing is None:
            if self._document is not None:
                line = (self._document.text, self._document.cursor_position)
                tab = self._event.completion_requested or (self.waiting is not None and self.waiting[:2] == line
                                                           and self.waiting[2])  # a Tab stays asked for
                self.waiting = (*line, tab)
            return
        names = listing.matching(prefix)
        more = listing.more_than(prefix, len(names)) if names else None
        for i, name in enumerate(names):
            # A cut menu says so on its first entry, the one in view when it opens: what is typed next narrows it.
            meta = more if i == 0 else None
            yield Completion(name, -len(prefix), display=visible_line(name), display_meta=meta)

    def _local_paths(self, word: str, event: CompleteEvent, uploads: bool) -> Iterator[Completion]:
        """Folders under ``word``; for an upload (submit_job) real job folders first, here then staged in
        the kit's upload folder, then the other folders (the way to a job folder deeper down)."""
        offered = set()
        rest: list[Completion] = []
        hidden = os.path.basename(word).startswith(".")  # .venv/, .git/: only when asked for
        for c in self._paths.get_completions(Document(word, len(word)), event):
            if not hidden and c.display_text.startswith("."):
                continue
            # A folder completes with its '/', so the next Tab goes inside it.
            full = os.path.expanduser(word + c.text)
            if uploads and refused_for_its_name(full, self._engine):
                continue  # a job folder submit_job refuses for its name ('my jobs/'): not offered to submit
            slash = "/" if os.path.isdir(full) and not c.text.endswith("/") else ""
            shown = c.display_text if c.display_text.endswith("/") else c.display_text + slash  # PathCompleter
            offered.add(word + c.text + slash)
            if uploads and is_job_folder(full, self._engine):
                yield Completion(c.text + slash, c.start_position, display=shown, display_meta="job folder")
            else:
                rest.append(Completion(c.text + slash, c.start_position, display=shown))  # may show the '/'
        if uploads and "/" not in word:
            yield from self._uploadable(word, offered)
        yield from rest

    def _uploadable(self, word: str, offered: set[str]) -> Iterator[Completion]:
        """Job folders in the kit's upload folder (``is_job_folder``), by name, as submit_job takes them; a
        job's download there is not one."""
        folder = self._upload_dir
        try:
            names = sorted(e.name for e in os.scandir(folder) if e.is_dir() and e.name.startswith(word)
                           and is_job_folder(e.path, self._engine)) if folder else []
        except OSError:
            return
        for name in names[:MAX_JOB_COMPLETIONS]:
            if name not in offered and name + "/" not in offered:  # a folder here wins, as in submit_job
                yield Completion(name, -len(word), display=visible_line(name),
                                 display_meta=visible_line(f"job folder in {folder.name}/ of the kit"))


def spec_uploads(done: list[str]) -> bool:
    """Whether the command being typed uploads a local folder (submit_job)."""
    spec = command_spec(done[0]) if done else None
    return spec is not None and spec.transfer is Transfer.UPLOAD


def _sink_target(text: str, found: words.Scan) -> str | None:
    """The text after an unquoted ``>``/``>>`` in the command being typed (its last ``;`` part); None
    when it has none, or only a ``|`` (a local command line: the user's shell completes those)."""
    at = None
    for i, char in unquoted(text, found.words[0].start if found.words else len(text)):
        if char == "|":
            return None
        elif char == ">":
            at = i
    if at is None:
        return None
    return text[at + 1:].lstrip(" \t")


def _plain(values: Iterable[str], word: str) -> Iterator[Completion]:
    for value in values:
        if value.startswith(word):
            yield Completion(value, -len(word), display=visible_line(value))


def _written(completion: Completion, typing: words.Word | None) -> Completion | None:
    """``completion`` (made against the typed word's value) as it goes into the line: quoted or escaped
    so that the line reads back the value (a folder ``bu7 dir`` as ``bu7\\ dir/``), in the style the
    word was typed in, and replacing the whole word as typed. As made when nothing needs quoting."""
    raw, value = (typing.raw, typing.value) if typing else ("", "")
    kept = value[:len(value) + completion.start_position] if completion.start_position else value
    whole = kept + completion.text
    if unseen_in(completion.text) is not None:
        # A name (from the server: a site, a job's) holding a control or invisible character: in the
        # line it would reorder (U+202E) or hide (U+200B) what the admin reads. Not offered.
        return None
    written = words.quote(whole, raw)
    if written is None:
        return None  # a name with a line break: no line can hold it
    if raw == value and written == whole:
        return completion
    return Completion(written, -len(raw), display=completion.display, display_meta=completion.display_meta,
                      style=completion.style, selected_style=completion.selected_style)
