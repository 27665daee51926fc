"""`python -m distill.data download`: the data directory's files from their pinned public sources, verified.

Why each piece:

* Sources: each file's URL in `known_files.tsv` names a commit (or, for the GPT-2 tokenizer files,
  OpenAI's own published files, whose sha256 tiktoken pins); `--mirror URL` reads the same
  relative paths under another base URL (a local copy, an internal bucket).
* Nothing half-done under a final name: a file is written to `<name>.part`, checked against its
  recorded sha256 and only then renamed over its final name (`durable.publish`). A file that does
  not verify is removed and reported, never installed.
* Resuming: a `.part` left by an interrupted run is continued with an HTTP Range request (a server
  that ignores Range sends the whole file, which is then written from the start); a resumed file
  that does not verify is fetched once more from the start, in case the old bytes were bad.
* Retries: what may pass (connection refused, reset or dropped mid-body, timeouts, HTTP 5xx, 408,
  429) is retried with exponential backoff; a 404 (or other 4xx) or a checksum mismatch will not
  pass, so it ends that file at once with an error naming the file and URL. The other files still
  complete and the exit status says something failed.
* Secrets: a mirror URL may carry `user:password@` (sent as HTTP basic auth) or a query; printed
  URLs show neither.
* Derived files (the two rebuilt from another data file, `derived.py`) are rebuilt after the
  downloads when reading public sources; a mirror serves them like any other file.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import TextIO

from distill.contracts import durable
from distill.contracts.progress import StatusLine, bar
from distill.data import data_dir
from distill.data.checksums import DERIVED, KNOWN_FILES
from distill.data.derived import DERIVED as DERIVATIONS

RETRYABLE_HTTP = frozenset({408, 425, 429})
CHUNK = 1 << 16


@dataclasses.dataclass(frozen=True)
class Settings:
    attempts: int = 5  # per file, first try included
    backoff_s: float = 1.0  # before retry n: backoff_s * 2 ** (n - 1)
    timeout_s: float = 60.0  # per socket operation


class DownloadError(Exception):
    """A file that was not installed: names it, what went wrong and the URL (secrets left out)."""

    def __init__(self, relative: str, url: str, problem: str, transient: bool = False) -> None:
        self.relative, self.url, self.problem, self.transient = relative, url, problem, transient
        super().__init__(f"{relative}: {problem} ({shown(url)})")


def shown(url: str) -> str:
    """`url` without `user:password@` and without its query: safe to print."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


def file_url(relative: str, mirror: str | None) -> str:
    """The recorded URL of a data file, or its relative path under the mirror's base URL."""
    if not mirror:
        return KNOWN_FILES[relative].url
    parts = urllib.parse.urlsplit(mirror)
    path = parts.path.rstrip("/") + "/" + urllib.parse.quote(relative)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _request(url: str, offset: int) -> urllib.request.Request:
    """A GET for `url` from byte `offset`, with any `user:password@` of the URL moved into a basic-auth header
    (not sent on to wherever a redirect points)."""
    parts = urllib.parse.urlsplit(url)
    credentials = None
    if parts.username is not None:
        credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    request = urllib.request.Request(url, headers={"User-Agent": "cot-specialize-data/1"})
    if credentials is not None:
        request.add_unredirected_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return request


class Progress:
    """`download [####......] 12/127 files, 3.4 MB  gsm8k/train.jsonl` on stderr (see `StatusLine`)."""

    def __init__(self, total: int, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.total, self.done, self.nbytes, self.current, self.quiet = total, 0, 0, "", quiet
        self.status = StatusLine(stream)
        self.start = time.monotonic()

    def bytes(self, count: int) -> None:
        self.nbytes += count
        if self.status.due():
            self._show()

    def file(self, relative: str) -> None:
        self.current = relative
        if self.status.due():
            self._show()

    def finished_one(self) -> None:
        self.done += 1

    def note(self, text: str) -> None:
        """A line of its own (a retry, a replaced file), kept apart from the redrawn status line."""
        if self.status.tty:
            self.status.stream.write("\r\033[K")
        self.status.stream.write(text + "\n")
        self.status.stream.flush()

    def close(self) -> None:
        self._show(final=True)

    def _show(self, final: bool = False) -> None:
        if self.quiet:
            return
        text = f"download {bar(self.done / max(self.total, 1))} {self.done}/{self.total} files, "
        text += f"{self.nbytes / 1e6:.1f} MB in {time.monotonic() - self.start:.0f} s"
        self.status.show(text if final else f"{text}  {self.current}", final=final)


def _fetch_once(relative: str, url: str, part: str, settings: Settings, progress: Progress) -> bool:
    """One GET into `part` (continued from its current size); whether it continued earlier bytes.

    A DownloadError says whether to try again."""
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    try:
        with urllib.request.urlopen(_request(url, offset), timeout=settings.timeout_s) as response:
            if offset and (response.status != 206 or not _continues(response, offset)):
                offset = 0  # the server sent the whole file (or not the part asked for): start again
            length = response.headers.get("Content-Length")
            expected = offset + int(length) if length and response.status in (200, 206) else None
            received = offset
            with open(part, "ab" if offset else "wb") as f:
                while block := response.read(CHUNK):
                    f.write(block)
                    received += len(block)
                    progress.bytes(len(block))
    except urllib.error.HTTPError as error:
        if error.code == 416:  # the .part is not a prefix the server knows: start again
            with contextlib.suppress(FileNotFoundError):
                os.remove(part)
        transient = error.code >= 500 or error.code in RETRYABLE_HTTP or error.code == 416
        raise DownloadError(relative, url, f"HTTP {error.code} {error.reason}", transient) from None
    except (OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        raise DownloadError(relative, url, f"{type(error).__name__}: {reason}", transient=True) from None
    if expected is not None and received < expected:
        raise DownloadError(relative, url, f"connection closed after {received} of {expected} bytes", True)
    return offset > 0


def _continues(response: http.client.HTTPResponse, offset: int) -> bool:
    return response.headers.get("Content-Range", "").startswith(f"bytes {offset}-")


def _fetch_retrying(relative: str, url: str, part: str, settings: Settings, progress: Progress) -> bool:
    """`_fetch_once` until it succeeds or fails for good; whether the result continued earlier bytes."""
    for attempt in range(1, settings.attempts + 1):
        try:
            return _fetch_once(relative, url, part, settings, progress)
        except DownloadError as error:
            if not error.transient or attempt == settings.attempts:
                raise
            delay = settings.backoff_s * 2 ** (attempt - 1)
            progress.note(f"retrying {relative} in {delay:g} s (attempt {attempt + 1}/{settings.attempts}): {error}")
            time.sleep(delay)
    raise ValueError(f"attempts must be at least 1, not {settings.attempts}")


def fetch(relative: str, url: str, root: str, settings: Settings, progress: Progress) -> None:
    """Downloads one file to `<root>/<relative>` through its `.part`, retrying what may pass; installs it verified.

    A mismatch is final, unless the bytes continued an earlier `.part` (which may be stale or damaged):
    then the file is fetched once more from the start.
    """
    path = os.path.join(root, relative)
    part = f"{path}.part"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    while True:
        resumed = _fetch_retrying(relative, url, part, settings, progress)
        got = data_dir.file_sha256(part)
        if got == KNOWN_FILES[relative].sha256:
            durable.publish(part, path)
            return
        os.remove(part)
        if not resumed:
            problem = f"sha256 {got[:16]}… differs from the published {KNOWN_FILES[relative].sha256[:16]}…"
            raise DownloadError(relative, url, problem + "; not installed")
        progress.note(f"refetching {relative} from the start: the resumed file did not verify")


def derive(relative: str, root: str) -> None:
    """Rebuilds a derived file from the data file it comes from (already in `root`), verified like a download."""
    source, build = DERIVATIONS[relative]
    if data_dir.status(source, root) != "present":
        raise DownloadError(relative, f"derived:{source}", f"rebuilt from {source}, which is missing or altered")
    with open(os.path.join(root, source), encoding="utf-8") as f:
        content = build(f.read())
    if hashlib.sha256(content).hexdigest() != KNOWN_FILES[relative].sha256:
        raise DownloadError(relative, f"derived:{source}", "the rebuilt file's sha256 differs from the published one")
    durable.write_bytes(os.path.join(root, relative), content)


@dataclasses.dataclass
class Summary:
    present: int = 0
    fetched: int = 0
    failed: list[DownloadError] = dataclasses.field(default_factory=list)


def download(
    files: Sequence[str],
    root: str,
    mirror: str | None = None,
    settings: Settings | None = None,
    stream: TextIO | None = None,
    quiet: bool = False,
) -> Summary:
    """Makes every file of `files` present and verified under `root`: skips those already so, fetches the rest.

    `quiet`: no status line (retries and replaced files are still told), for a caller that says what it fetches.
    """
    settings = settings or Settings()
    summary, progress = Summary(), Progress(len(files), stream, quiet)
    derived_last = sorted(files, key=lambda f: not mirror and KNOWN_FILES[f].url == DERIVED)
    for relative in derived_last:
        progress.file(relative)
        state = data_dir.status(relative, root)
        if state == "present":
            summary.present += 1
        else:
            if state == "altered":
                progress.note(f"replacing {relative}: it differs from the published file")
            try:
                if not mirror and KNOWN_FILES[relative].url == DERIVED:
                    derive(relative, root)
                else:
                    fetch(relative, file_url(relative, mirror), root, settings, progress)
                summary.fetched += 1
            except DownloadError as error:
                summary.failed.append(error)
        progress.finished_one()
    progress.close()
    return summary


def report(summary: Summary, root: str) -> int:
    """Prints each failure (file, problem, URL) on stderr and a summary line; the exit status (1: a failure)."""
    for error in summary.failed:
        print(f"error: {error}", file=sys.stderr)
    print(f"{root}: {summary.fetched} fetched, {summary.present} already present, {len(summary.failed)} failed")
    return 1 if summary.failed else 0


def ensure(files: Sequence[str], who: str, needs_dir: bool = False) -> None:
    """Before a command that reads `files` from the data directory: fetches those it lacks, saying so in one line,
    and exits with one line if it cannot (offline). Nothing is fetched when they are present.

    With no data directory configured, a command that reads them only from one (`needs_dir` False) needs
    nothing; one that needs them anyway gets them in the default directory (`data_dir.download_dir`).
    """
    if data_dir.is_configured():
        root = data_dir.data_dir()
    elif needs_dir:
        root = data_dir.download_dir()
    else:
        return
    missing = [f for f in files if data_dir.status(f, root) != "present"]
    if not missing:
        return
    print(f"{who}: fetching {', '.join(missing)} into the data directory {root}", flush=True)
    summary = download(missing, root, settings=Settings(attempts=2), quiet=True)
    if summary.failed:
        folders = ",".join(sorted({f.split("/")[0] for f in missing}))
        raise SystemExit(
            f"{who}: could not fetch {summary.failed[0]} (offline?); run `python -m distill.data download "
            f"--only {folders}` once online, or point {data_dir.ENV_VAR} at a directory that has it"
        )
