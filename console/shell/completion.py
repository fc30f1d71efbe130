"""Completion: commands, options and argument values, from the registry and local data.

Only what the connected engine offers is proposed (``CommandSpec.engines``).

Never touches the network: job IDs and sites come from ``CompletionData``, which the
refresher fills in the background. Job IDs match on ID prefix or name prefix through
sorted indexes, so a keystroke costs a bisection, not a scan of every job.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from console.commands import CATALOG, NAMES, CommandSpec, Engine, Param, ParamKind
from console.shell.parse import YES_FLAGS
from console.shell.safe_text import visible

MAX_JOB_COMPLETIONS = 200


@dataclass(frozen=True, slots=True)
class JobEntry:
    job_id: str
    name: str
    status: str


@dataclass
class CompletionData:
    """What completion knows of the server; replaced whole by a refresh, patched by pushes."""

    jobs: dict[str, JobEntry] = field(default_factory=dict)
    sites: list[str] = field(default_factory=list)
    _ids: list[str] = field(default_factory=list)
    _names: list[tuple[str, str]] = field(default_factory=list)  # (lower-case name, job_id)

    @classmethod
    def from_rows(cls, rows: Iterable[dict]) -> CompletionData:
        data = cls()
        for row in rows:
            entry = JobEntry(row["job_id"], row.get("job_name") or row.get("name") or "", row.get("status", ""))
            data.jobs[entry.job_id] = entry
        data._ids = sorted(data.jobs)
        data._names = sorted((e.name.lower(), e.job_id) for e in data.jobs.values())
        return data

    def upsert(self, job_id: str, name: str | None, status: str | None) -> None:
        old = self.jobs.get(job_id)
        entry = JobEntry(job_id, name or (old.name if old else ""), status or (old.status if old else ""))
        self.jobs[job_id] = entry
        if old is None:
            bisect.insort(self._ids, job_id)
            bisect.insort(self._names, (entry.name.lower(), job_id))

    def remove(self, job_id: str) -> None:
        entry = self.jobs.pop(job_id, None)
        if entry is None:
            return
        for index_list, key in ((self._ids, job_id), (self._names, (entry.name.lower(), job_id))):
            i = bisect.bisect_left(index_list, key)  # type: ignore[arg-type]
            if i < len(index_list) and index_list[i] == key:
                del index_list[i]

    def match_jobs(self, word: str, limit: int = MAX_JOB_COMPLETIONS) -> list[JobEntry]:
        """Jobs whose ID starts with ``word``, then jobs whose name does (case-insensitive)."""
        found: dict[str, JobEntry] = {}
        i = bisect.bisect_left(self._ids, word)
        while i < len(self._ids) and self._ids[i].startswith(word) and len(found) < limit:
            found[self._ids[i]] = self.jobs[self._ids[i]]
            i += 1
        lowered = word.lower()
        i = bisect.bisect_left(self._names, (lowered, ""))
        while i < len(self._names) and self._names[i][0].startswith(lowered) and len(found) < limit:
            job_id = self._names[i][1]
            found.setdefault(job_id, self.jobs[job_id])
            i += 1
        return list(found.values())


class ShellCompleter(Completer):
    def __init__(
        self,
        data: Callable[[], CompletionData],
        themes: Callable[[], list[str]] = list,
        monitored: Callable[[], list[str]] = list,
        engine: Engine = Engine.OURS,
    ) -> None:
        self._data = data
        self._engine = engine
        self._themes = themes
        self._monitored = monitored
        self._paths = PathCompleter(only_directories=True, expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        words = text.split()
        word = "" if not words or text[-1:].isspace() else words[-1]
        done = words if not word else words[:-1]
        if not done:
            yield from self._commands(word)
            return
        spec = NAMES.get(done[0])
        if spec is None or not spec.supports(self._engine):
            return
        param = _param_at(spec, done[1:])
        if word.startswith("-") or (param is None and not word):
            yield from self._options(spec, done[1:], word)
        if param is not None and not word.startswith("-"):
            yield from self._values(param, word, complete_event)

    def _commands(self, word: str) -> Iterator[Completion]:
        for name in sorted(NAMES):
            if name.startswith(word) and NAMES[name].supports(self._engine):
                yield Completion(name, -len(word), display_meta=NAMES[name].summary)

    def _options(self, spec: CommandSpec, done: list[str], word: str) -> Iterator[Completion]:
        used = set(done)
        flags = [(p.flag, p.help) for p in spec.typed_params if p.flag]
        if spec.destructive:
            flags.append(("--yes", "do not ask to confirm"))
        for flag, help_text in flags:
            if flag and flag.startswith(word) and flag not in used:
                yield Completion(flag, -len(word), display_meta=help_text)

    def _values(self, param: Param, word: str, event: CompleteEvent) -> Iterator[Completion]:
        kind = param.kind
        if kind is ParamKind.JOB_ID:
            for entry in self._data().match_jobs(word):
                yield Completion(entry.job_id, -len(word), display=entry.job_id[:13],
                                 display_meta=visible(f"{entry.name}  {entry.status}"))
        elif kind is ParamKind.MONITOR:
            for job_id in [*self._monitored(), "all"]:
                if job_id.startswith(word):
                    yield Completion(job_id, -len(word))
        elif kind is ParamKind.CHOICE:
            yield from _plain(param.choices, word)
        elif kind is ParamKind.COMMAND:
            yield from (Completion(n, -len(word), display_meta=CATALOG[n].summary)
                        for n in sorted(CATALOG) if n.startswith(word) and CATALOG[n].supports(self._engine))
        elif kind is ParamKind.THEME:
            yield from _plain(self._themes(), word)
        elif kind is ParamKind.SITE:
            yield from _plain(self._data().sites, word)
        elif kind is ParamKind.TARGET:
            yield from _plain(["server", *self._data().sites], word)
        elif kind is ParamKind.LOCAL_PATH:
            yield from self._paths.get_completions(Document(word, len(word)), event)


def _plain(values: Iterable[str], word: str) -> Iterator[Completion]:
    for value in values:
        if value.startswith(word):
            yield Completion(value, -len(word))


def _param_at(spec: CommandSpec, done: list[str]) -> Param | None:
    """The parameter the next word fills, given the words already typed after the command."""
    params = spec.typed_params
    flags = {p.flag: p for p in params if p.flag}
    takes_options = any(p.kind is ParamKind.OPTIONS for p in params)
    positionals = [p for p in params if not p.flag and p.kind is not ParamKind.OPTIONS]
    index = 0
    expecting: Param | None = None
    previous = ""
    for token in done:
        if expecting is not None:
            expecting = None
        elif token in flags:
            if flags[token].kind is not ParamKind.BOOL:
                expecting = flags[token]
        elif token in YES_FLAGS:
            pass
        elif takes_options and (token.startswith("-") or (token.isdigit() and len(previous) == 2
                                                             and previous.startswith("-"))):
            pass  # a shell command's options, passed through ("-n 20")
        elif not (index < len(positionals) and positionals[index].many):
            index += 1
        previous = token
    if expecting is not None:
        return expecting
    return positionals[index] if index < len(positionals) else None
