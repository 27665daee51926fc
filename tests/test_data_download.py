"""`python -m distill.data download` and `list` against a real loopback HTTP mirror of a few shared data files.

The mirror is a `ThreadingHTTPServer` serving a temporary copy of small files of the shared data
directory. Faults a real server cannot produce on demand (a connection dropped mid-body once, a
503 once) are switched on per file; a corrupted file and a missing one (404) are real files, or
their absence, in the mirror. Nothing here reaches the internet.
"""

from __future__ import annotations

import base64
import os
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from distill.data import cli, data_dir, download
from distill.data.checksums import KNOWN_FILES

SHARED = os.environ["COT_DATA_DIR"]
ONLY = "addsub,singleeq,svamp"  # 4 files, 0.6 MB
FILES = ["addsub/AddSub.json", "singleeq/questions.json", "svamp/LICENSE.source", "svamp/SVAMP.json"]
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


class Mirror:
    """A loopback HTTP server for `root`, logging (path, Range, Authorization) of each GET; faults per path."""

    def __init__(self, root: str) -> None:
        self.root, self.requests = root, []
        self.drop_once: set[str] = set()  # send half the body, then close the connection
        self.fail_once: dict[str, int] = {}  # answer this HTTP status once
        self.ignore_range = False  # answer a Range request with the whole file, as some servers do
        self.redirect_to: str | None = None  # answer every request with a redirect to this base URL
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/data/"

    def requested(self, relative: str) -> list[str | None]:
        """The Range header of each request for `relative` (None: the whole file)."""
        return [rng for path, rng, _ in self.requests if path == relative]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                relative = urllib.parse.unquote(self.path).removeprefix("/data/")
                mirror.requests.append((relative, self.headers.get("Range"), self.headers.get("Authorization")))
                path = os.path.join(mirror.root, relative)
                if mirror.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", mirror.redirect_to + relative)
                    self.end_headers()
                    return
                if relative in mirror.fail_once:
                    self.send_error(mirror.fail_once.pop(relative))
                    return
                if not os.path.isfile(path):
                    self.send_error(404)
                    return
                with open(path, "rb") as f:
                    body = f.read()
                ranged = self.headers.get("Range") and not mirror.ignore_range
                start = int(self.headers["Range"].split("=")[1].rstrip("-")) if ranged else 0
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if relative in mirror.drop_once:
                    mirror.drop_once.discard(relative)
                    self.wfile.write(body[start : len(body) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def mirror(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mirror]:
    for variable in PROXY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    root = tmp_path / "mirror"
    for relative in FILES:
        os.makedirs(root / os.path.dirname(relative), exist_ok=True)
        shutil.copyfile(os.path.join(SHARED, relative), root / relative)
    server = Mirror(str(root))
    yield server
    server.close()


def run(*argv: str) -> int:
    return cli.main(["download", "--backoff", "0", *argv])


def states(out: str) -> dict[str, str]:
    return {relative: data_dir.status(relative, out) for relative in FILES}


def test_download_installs_verified_files_and_skips_those_already_present(mirror: Mirror, tmp_path, capsys) -> None:
    out = str(tmp_path / "data")
    os.makedirs(os.path.join(out, "addsub"))
    shutil.copyfile(os.path.join(SHARED, "addsub/AddSub.json"), os.path.join(out, "addsub/AddSub.json"))

    assert run("--only", ONLY, "--out", out, "--mirror", mirror.url) == 0
    assert set(states(out).values()) == {"present"}
    assert mirror.requested("addsub/AddSub.json") == []  # present and valid: no request
    assert sorted(path for path, _, _ in mirror.requests) == FILES[1:]
    assert not [name for _, _, names in os.walk(out) for name in names if name.endswith(".part")]
    assert f"{out}: 3 fetched, 1 already present, 0 failed" in capsys.readouterr().out

    mirror.requests.clear()
    assert run("--only", ONLY, "--out", out, "--mirror", mirror.url) == 0
    assert mirror.requests == []  # a second run fetches nothing


def test_a_dropped_connection_and_a_503_are_retried(mirror: Mirror, tmp_path, capsys) -> None:
    out = str(tmp_path / "data")
    mirror.drop_once.add("svamp/SVAMP.json")
    mirror.fail_once["singleeq/questions.json"] = 503

    assert run("--only", ONLY, "--out", out, "--mirror", mirror.url) == 0
    assert set(states(out).values()) == {"present"}
    half = os.path.getsize(os.path.join(SHARED, "svamp/SVAMP.json")) // 2
    assert mirror.requested("svamp/SVAMP.json") == [None, f"bytes={half}-"]  # resumed where it broke
    assert mirror.requested("singleeq/questions.json") == [None, None]
    err = capsys.readouterr().err
    assert "retrying svamp/SVAMP.json" in err and f"connection closed after {half} of" in err
    assert "retrying singleeq/questions.json" in err and "HTTP 503" in err


@pytest.mark.parametrize("ignore_range", [False, True])
def test_a_part_file_left_by_an_interrupted_run_is_resumed(mirror: Mirror, tmp_path, ignore_range: bool) -> None:
    out = str(tmp_path / "data")
    with open(os.path.join(SHARED, "svamp/SVAMP.json"), "rb") as f:
        body = f.read()
    os.makedirs(os.path.join(out, "svamp"))
    with open(os.path.join(out, "svamp/SVAMP.json.part"), "wb") as f:
        f.write(body[:1000])
    mirror.ignore_range = ignore_range  # then the whole file comes back and is written from the start

    assert run("--only", "svamp", "--out", out, "--mirror", mirror.url) == 0
    assert data_dir.status("svamp/SVAMP.json", out) == "present"
    assert mirror.requested("svamp/SVAMP.json") == ["bytes=1000-"]
    assert not os.path.exists(os.path.join(out, "svamp/SVAMP.json.part"))


def test_a_damaged_part_file_is_refetched_from_the_start(mirror: Mirror, tmp_path, capsys) -> None:
    out = str(tmp_path / "data")
    os.makedirs(os.path.join(out, "svamp"))
    with open(os.path.join(out, "svamp/SVAMP.json.part"), "wb") as f:
        f.write(b"#" * 1000)  # not the file's first bytes

    assert run("--only", "svamp", "--out", out, "--mirror", mirror.url) == 0
    assert data_dir.status("svamp/SVAMP.json", out) == "present"
    assert mirror.requested("svamp/SVAMP.json") == ["bytes=1000-", None]
    assert "refetching svamp/SVAMP.json from the start" in capsys.readouterr().err


def test_a_corrupted_file_is_reported_and_not_installed(mirror: Mirror, tmp_path, capsys) -> None:
    out = str(tmp_path / "data")
    with open(os.path.join(mirror.root, "svamp/SVAMP.json"), "r+b") as f:
        f.seek(1000)
        f.write(b"#")

    assert run("--only", ONLY, "--out", out, "--mirror", mirror.url) == 1
    assert states(out) == {relative: "missing" if relative == "svamp/SVAMP.json" else "present" for relative in FILES}
    assert not os.path.exists(os.path.join(out, "svamp/SVAMP.json.part"))
    assert mirror.requested("svamp/SVAMP.json") == [None]  # a mismatch is final: not retried
    captured = capsys.readouterr()
    assert "error: svamp/SVAMP.json: sha256 " in captured.err and "not installed" in captured.err
    assert f"({mirror.url}svamp/SVAMP.json)" in captured.err
    assert "3 fetched, 0 already present, 1 failed" in captured.out


def test_a_404_names_the_file_and_url_and_the_others_complete(mirror: Mirror, tmp_path, capsys) -> None:
    out = str(tmp_path / "data")
    os.remove(os.path.join(mirror.root, "addsub/AddSub.json"))
    port = mirror.http.server_address[1]
    with_secret = f"http://reader:s3cret-token@127.0.0.1:{port}/data/"

    assert run("--only", ONLY, "--out", out, "--mirror", with_secret) == 1
    assert states(out)["addsub/AddSub.json"] == "missing"
    assert [s for r, s in states(out).items() if r != "addsub/AddSub.json"] == ["present"] * 3
    assert mirror.requested("addsub/AddSub.json") == [None]  # a 404 is final: not retried
    captured = capsys.readouterr()
    assert f"error: addsub/AddSub.json: HTTP 404 Not Found ({mirror.url}addsub/AddSub.json)" in captured.err
    assert "s3cret" not in captured.out + captured.err  # the mirror's credentials are sent, never printed
    assert {auth for _, _, auth in mirror.requests} == {"Basic " + base64.b64encode(b"reader:s3cret-token").decode()}


def test_credentials_are_not_sent_on_to_where_a_redirect_points(mirror: Mirror, tmp_path) -> None:
    front = Mirror(str(tmp_path / "empty"))
    front.redirect_to = mirror.url
    try:
        port = front.http.server_address[1]
        out = str(tmp_path / "data")
        assert run("--only", "svamp", "--out", out, "--mirror", f"http://reader:s3cret@127.0.0.1:{port}/data/") == 0
    finally:
        front.close()
    assert {auth for _, _, auth in front.requests} == {"Basic " + base64.b64encode(b"reader:s3cret").decode()}
    assert sorted(path for path, _, _ in mirror.requests) == ["svamp/LICENSE.source", "svamp/SVAMP.json"]
    assert {auth for _, _, auth in mirror.requests} == {None}


def test_list_reports_present_missing_and_altered(mirror: Mirror, tmp_path, capsys) -> None:
    out = str(tmp_path / "data")
    assert run("--only", ONLY, "--out", out, "--mirror", mirror.url) == 0
    os.remove(os.path.join(out, "addsub/AddSub.json"))
    with open(os.path.join(out, "svamp/LICENSE.source"), "a", encoding="utf-8") as f:
        f.write("edited\n")
    capsys.readouterr()

    assert cli.main(["list", "--only", ONLY, "--dir", out]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("missing  addsub/AddSub.json  <- github.com/kojima-takeshi188/zero_shot_cot")
    assert lines[1].startswith("altered  svamp/LICENSE.source  <- github.com/arkilpatel/SVAMP")
    assert lines[2] == f"{out}: 2 present, 1 missing, 1 altered"

    assert run("--only", ONLY, "--out", out, "--mirror", mirror.url) == 0  # the altered file is replaced
    assert sorted(path for path, _, _ in mirror.requests[-2:]) == ["addsub/AddSub.json", "svamp/LICENSE.source"]
    assert cli.main(["list", "--only", ONLY, "--dir", out]) == 0


def test_without_a_mirror_the_recorded_urls_are_fetched_and_derived_files_rebuilt(
    mirror: Mirror, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wei et al.'s exemplar files have no committed copy: they are rebuilt from the prompt they come from."""
    source = "prompts/chain-of-thought-hub_gsm8k/prompt_original.txt"
    os.makedirs(os.path.join(mirror.root, os.path.dirname(source)))
    shutil.copyfile(os.path.join(SHARED, source), os.path.join(mirror.root, source))
    monkeypatch.setitem(KNOWN_FILES, source, KNOWN_FILES[source]._replace(url=mirror.url + source))
    files = [source, "prompts/wei2022_gsm8k_8shot_cot.jsonl", "prompts/wei2022_gsm8k_8shot_cot.txt"]
    out = str(tmp_path / "data")

    summary = download.download(files, out)
    assert (summary.fetched, summary.failed) == (3, [])
    assert [data_dir.status(relative, out) for relative in files] == ["present"] * 3
    assert [path for path, _, _ in mirror.requests] == [source]


def test_printed_urls_hide_credentials_and_queries() -> None:
    assert download.shown("https://u:p@host:8443/data/x.json?sig=abc") == "https://host:8443/data/x.json?…"
    assert download.file_url("svamp/SVAMP.json", "http://h/base?t=1") == "http://h/base/svamp/SVAMP.json?t=1"
    assert download.file_url("svamp/SVAMP.json", None).startswith("https://raw.githubusercontent.com/arkilpatel/SVAMP/")


GSM8K_TRAIN = "gsm8k/train.jsonl"


@pytest.fixture
def gsm8k_source(mirror: Mirror, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    """The mirror serves GSM8K's train file, and the table's URL for it points there (the public source, offline)."""
    os.makedirs(os.path.join(mirror.root, "gsm8k"))
    shutil.copyfile(os.path.join(SHARED, GSM8K_TRAIN), os.path.join(mirror.root, GSM8K_TRAIN))
    monkeypatch.setitem(KNOWN_FILES, GSM8K_TRAIN, KNOWN_FILES[GSM8K_TRAIN]._replace(url=mirror.url + GSM8K_TRAIN))
    return mirror


def test_ensure_fetches_what_a_configured_data_dir_lacks_and_nothing_else(
    gsm8k_source: Mirror, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(data_dir.ENV_VAR)
    download.ensure([GSM8K_TRAIN], "demo")  # no data directory: the demo needs none
    assert gsm8k_source.requests == [] and capsys.readouterr().out == ""

    out = str(tmp_path / "data")
    monkeypatch.setenv(data_dir.ENV_VAR, out)
    download.ensure([GSM8K_TRAIN], "demo")
    assert data_dir.status(GSM8K_TRAIN, out) == "present"
    assert capsys.readouterr().out == f"demo: fetching {GSM8K_TRAIN} into the data directory {out}\n"
    download.ensure([GSM8K_TRAIN], "demo")  # present: nothing fetched, nothing said
    assert len(gsm8k_source.requests) == 1 and capsys.readouterr().out == ""


def test_ensure_for_a_command_that_needs_the_files_fills_the_default_directory(
    gsm8k_source: Mirror, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(data_dir.ENV_VAR)
    download.ensure([GSM8K_TRAIN], "quickstart", needs_dir=True)
    cache = str(tmp_path / "cache" / "cot-specialize" / "data")
    assert data_dir.data_dir() == cache and data_dir.status(GSM8K_TRAIN, cache) == "present"
    assert capsys.readouterr().out == f"quickstart: fetching {GSM8K_TRAIN} into the data directory {cache}\n"


def test_ensure_offline_fails_in_one_line(gsm8k_source: Mirror, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    gsm8k_source.close()  # offline: the connection is refused
    monkeypatch.setenv(data_dir.ENV_VAR, str(tmp_path / "data"))
    with pytest.raises(SystemExit) as exit_info:
        download.ensure([GSM8K_TRAIN], "demo")
    message = str(exit_info.value)
    assert "\n" not in message and message.startswith(f"demo: could not fetch {GSM8K_TRAIN}: ")
    assert "python -m distill.data download --only gsm8k" in message
    assert not os.path.exists(os.path.join(tmp_path, "data", GSM8K_TRAIN))


def test_the_demo_ensures_its_data_before_anything_else(
    gsm8k_source: Mirror, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distill.lab import demo

    class StartedError(Exception):
        pass

    def started(_: str) -> None:
        raise StartedError

    out = str(tmp_path / "data")
    monkeypatch.setenv(data_dir.ENV_VAR, out)
    monkeypatch.setattr(demo.artifacts, "find", started)  # the demo's first step after its data
    with pytest.raises(StartedError):
        demo.run(str(tmp_path / "demo"), "artifacts/lab", demo.SMOKE)
    assert data_dir.status(GSM8K_TRAIN, out) == "present"


def test_the_quickstart_ensures_its_data_before_anything_else(
    gsm8k_source: Mirror, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its two tokenizers and GSM8K's train file: fetched (here from the mirror) into the default directory."""
    from distill.quickstart import cli as quickstart

    class StartedError(Exception):
        pass

    def started(*_: object) -> None:
        raise StartedError

    for relative in (quickstart.TEACHER_TOKENIZER, quickstart.STUDENT_VOCABULARY):
        os.makedirs(os.path.join(gsm8k_source.root, os.path.dirname(relative)), exist_ok=True)
        shutil.copyfile(os.path.join(SHARED, relative), os.path.join(gsm8k_source.root, relative))
        monkeypatch.setitem(KNOWN_FILES, relative, KNOWN_FILES[relative]._replace(url=gsm8k_source.url + relative))
    monkeypatch.delenv(data_dir.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(quickstart, "prepare_records", started)  # the quickstart's first step after its data
    with pytest.raises(StartedError):
        quickstart.main(["--out", str(tmp_path / "quickstart")])
    cache = data_dir.user_data_dir()
    assert [data_dir.status(relative, cache) for relative in quickstart.DATA_FILES] == ["present"] * 3
    assert sorted(path for path, _, _ in gsm8k_source.requests) == sorted(quickstart.DATA_FILES)
