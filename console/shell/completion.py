"""Completion: commands, options and argument values, from the registry and local data.

Only what the connected engine offers is proposed (``CommandSpec.engines``).

Never touches the network: job IDs and sites come from ``CompletionData``
(``console.shell.completion_data``), which the refresher fills in the background.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prompt_toolkit.application.current import get_app_or_none
from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from console.commands import CATALOG, NAMES, SETTINGS, CommandSpec, Engine, Param, ParamKind, Transfer
from console.commands.spec import Offer
from console.shell import words
from console.shell.completion_data import MAX_JOB_COMPLETIONS, CompletionData, JobEntry, age
from console.shell.job_folders import is_job_folder
from console.shell.options import YES_FLAGS, Option, OptionError, flag_table, read_option
from console.shell.parse import command_spec
from console.shell.safe_text import visible_line
from console.shell.top.columns import Column, layout, render

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
    ) -> None:
        self._data = data
        self._engine = engine
        self._themes = themes
        self._monitored = monitored
        self._stale = stale  # called when job data shown is older than STALE_AFTER (a refresh starts)
        self._paths = PathCompleter(only_directories=True, expanduser=True)
        self._upload_dir = upload_dir  # submit_job NAME also finds the job folder NAME there

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        # A completion that would leave the word as typed is not offered: after Tab completed
        # "list_j" to "list_jobs", completion-while-typing would reopen the menu on that one entry.
        found = words.scan(document.text_before_cursor, commands=True)
        if found.comment:
            return
        typing = found.words[-1] if found.words and found.words[-1].end == len(document.text_before_cursor) else None
        raw = typing.raw if typing else ""
        for completion in self._completions(document.text_before_cursor, found, typing, complete_event):
            completion = _written(completion, typing)
            if completion is not None and not (completion.text == raw and completion.start_position == -len(raw)):
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
        spec = command_spec(done[0])
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
        attached = _attached(spec, word)
        if attached is not None:  # -nhel, --format=j: the value in the option's own word
            yield from self._values(attached[0], attached[1], complete_event, done)
            return
        param = _param_at(spec, done[1:])
        if param is not None and not word.startswith("-"):
            yield from self._values(param, word, complete_event, done)
        # Options where one may come: not in place of a flag's value or a required argument.
        if word.startswith("-") or (not word and (param is None or not (param.required or param.flag))):
            yield from self._options(spec, done[1:], word)

    def _commands(self, word: str) -> Iterator[Completion]:
        lowered = word.lower()
        for name in sorted(NAMES):
            if name.startswith(lowered) and NAMES[name].supports(self._engine) and name.isidentifier():
                yield Completion(name, -len(word), display_meta=NAMES[name].summary_on(self._engine))

    def _options(self, spec: CommandSpec, done: list[str], word: str) -> Iterator[Completion]:
        used = {option.flag for token in done for option in _options_in(token, flag_table(spec)) or ()}
        flags = [(p.flag, p.help) for p in spec.typed_params if p.flag]
        if spec.destructive:
            flags.append(("--yes", "do not ask to confirm"))
        for flag, help_text in flags:
            if flag and flag.startswith(word) and flag not in used:
                yield Completion(flag, -len(word), display_meta=help_text)

    def _jobs(self, word: str, offer: Offer = Offer.ANY) -> Iterator[Completion]:
        data = self._data()
        if self._stale is not None and time.monotonic() - data.fetched > STALE_AFTER:
            self._stale()
        yield from _job_menu(data.ranked_jobs(word, offer), word)

    def _values(self, param: Param, word: str, event: CompleteEvent, done: list[str]) -> Iterator[Completion]:
        kind = param.kind
        if kind is ParamKind.JOB_ID:
            yield from self._jobs(word, param.offer)
        elif kind is ParamKind.JOB_PREFIX:
            if word:  # a filter: the typed prefix stays a prefix unless a whole ID is picked
                yield from self._jobs(word)
        elif kind is ParamKind.JOB_NAME:
            yield from (Completion(n, -len(word), display=visible_line(n)) for n in self._data().job_names(word))
        elif kind is ParamKind.MONITOR:  # the monitored (followed) jobs in the same menu as other job IDs
            jobs = self._data().jobs
            yield from _job_menu([jobs.get(j) or JobEntry(j, "", "") for j in self._monitored() if j.startswith(word)],
                                 word)
            if "all".startswith(word):
                yield Completion("all", -len(word))
        elif kind is ParamKind.CHOICE:
            yield from _plain(param.choices, word)
        elif kind is ParamKind.SETTING_VALUE:
            setting = done[1] if len(done) > 1 else ""
            yield from _plain(SETTINGS.get(setting, ()), word)
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


#: The job-ID menu's meta: name, status, age, one aligned column each. In a narrow terminal the
#: name gives room first (down to 8 cells, ending in '…'), then the age is left out; the status
#: stays whole.
JOB_META = (Column("", least=8, shrink=1), Column(""), Column("", drop=1))
#: A wide terminal still gets a compact menu: a long name is elided past this.
MAX_META_WIDTH = 64
#: Cells of the menu that are not its meta: the ID (8) and its blanks (2), the meta's own
#: blanks (2), the scrollbar (1).
_MENU_BESIDE_META = 13


def _job_menu(entries: list[JobEntry], word: str) -> Iterator[Completion]:
    """Job IDs as the menu shows them: the ID's first 8 characters, then name, status and age aligned."""
    now = time.time()
    meta = _JobMeta([[visible_line(e.name), visible_line(e.status), age(e.submitted, now)] for e in entries])
    for index, entry in enumerate(entries):
        yield Completion(entry.job_id, -len(word), display=entry.job_id[:8],
                         display_meta=functools.partial(meta.text, index))


class _JobMeta:
    """The meta column of one job menu, laid out for the terminal's width when the menu is drawn.

    prompt_toolkit asks each entry for its meta at every drawing, and draws again at once when the
    terminal is resized (SIGWINCH): so the columns follow a resize as it happens, not at the next key.
    Laid out once per width.
    """

    def __init__(self, rows: list[list[str]]) -> None:
        self.rows = rows
        self._room = -1
        self._texts: list[str] = []

    def text(self, index: int) -> str:
        room = _meta_room()
        if room != self._room:
            widths = layout(JOB_META, self.rows, room)
            self._texts = [render(row, widths, room) for row in self.rows]
            self._room = room
        return self._texts[index]


def _meta_room() -> int:
    """Display cells the menu's meta column may use: the terminal's width less the rest of the menu
    (prompt_toolkit moves a menu that would pass the right edge to the left, never cuts it)."""
    app = get_app_or_none()  # get_app() would build a whole dummy application outside the prompt: 4 ms
    try:
        columns = app.output.get_size().columns if app is not None else 80
    except Exception:  # no terminal to ask (a pipe, a closed output): as wide as a usual one
        columns = 80
    return min(max(columns - _MENU_BESIDE_META, 20), MAX_META_WIDTH)


def spec_uploads(done: list[str]) -> bool:
    """Whether the command being typed uploads a local folder (submit_job)."""
    spec = command_spec(done[0]) if done else None
    return spec is not None and spec.transfer is Transfer.UPLOAD


def _plain(values: Iterable[str], word: str) -> Iterator[Completion]:
    for value in values:
        if value.startswith(word):
            yield Completion(value, -len(word))


def _written(completion: Completion, typing: words.Word | None) -> Completion | None:
    """``completion`` (made against the typed word's value) as it goes into the line: quoted or escaped
    so that the line reads back the value (a folder ``bu7 dir`` as ``bu7\\ dir/``), in the style the
    word was typed in, and replacing the whole word as typed. As made when nothing needs quoting."""
    raw, value = (typing.raw, typing.value) if typing else ("", "")
    kept = value[:len(value) + completion.start_position] if completion.start_position else value
    whole = kept + completion.text
    written = words.quote(whole, raw)
    if written is None:
        return None  # a name with a line break: no line can hold it
    if raw == value and written == whole:
        return completion
    return Completion(written, -len(raw), display=completion.display, display_meta=completion.display_meta,
                      style=completion.style, selected_style=completion.selected_style)


def command_line_start(spec: CommandSpec, done: list[str]) -> int | None:
    """Index in ``done`` (the words after the command) where a COMMAND_LINE parameter starts, if reached."""
    if not any(p.kind is ParamKind.COMMAND_LINE for p in spec.typed_params):
        return None
    for k in range(len(done) + 1):
        param = _param_at(spec, done[:k])
        if param is not None and param.kind is ParamKind.COMMAND_LINE and (k == len(done) or done[k][:1] != "-"):
            return k
    return None


def _options_in(token: str, takes: dict[str, bool]) -> list[Option] | None:
    """The options a typed word gives (as ``console.shell.options`` reads them); None for a word that
    is not one, or that cannot be read (the parse will say why, completion goes on)."""
    try:
        return read_option(token, takes)
    except OptionError:
        return None


def _attached(spec: CommandSpec, word: str) -> tuple[Param, str] | None:
    """The parameter and the value being typed in an option's own word (``-nhel``, ``--format=j``)."""
    options = _options_in(word, flag_table(spec)) if word.startswith("-") else None
    if not options or options[-1].value is None:
        return None
    param = next((p for p in spec.typed_params if p.flag == options[-1].flag), None)
    return (param, options[-1].value) if param is not None else None


def _param_at(spec: CommandSpec, done: list[str]) -> Param | None:
    """The parameter the next word fills, given the words already typed after the command."""
    params = spec.typed_params
    flags = {p.flag: p for p in params if p.flag}
    takes = flag_table(spec)
    takes_options = any(p.kind is ParamKind.OPTIONS for p in params)
    positionals = [p for p in params if not p.flag and p.kind is not ParamKind.OPTIONS]
    index = 0
    expecting: Param | None = None
    previous = ""
    only_values = False  # after "--"
    for token in done:
        options = None if only_values or takes_options else _options_in(token, takes)
        if expecting is not None:
            expecting = None
        elif token == "--" and not only_values and not takes_options:
            only_values = True
        elif token in flags:
            if flags[token].kind is not ParamKind.BOOL:
                expecting = flags[token]
        elif token in YES_FLAGS:
            pass
        elif options:  # -rm (then -m's value), -m1, --timeout=5
            last = options[-1]
            if last.flag in flags and flags[last.flag].kind is not ParamKind.BOOL and last.value is None:
                expecting = flags[last.flag]
        elif takes_options and (token.startswith("-") or (token.isdigit() and len(previous) == 2
                                                             and previous.startswith("-"))):
            pass  # a shell command's options, passed through ("-n 20")
        elif not (index < len(positionals) and positionals[index].many):
            index += 1
        previous = token
    if expecting is not None:
        return expecting
    return positionals[index] if index < len(positionals) else None
