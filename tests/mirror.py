"""A local stand-in for the Hugging Face Hub and for release-file hosts, so download code is tested offline.

`Mirror` serves, from memory, on 127.0.0.1:

- Hub model repositories, as much of the Hub's HTTP interface as huggingface_hub 2.5.0's `hf_hub_download`,
  `snapshot_download`, `HfApi.model_info`/`repo_info` and `HfApi.list_repo_tree` use:
    HEAD/GET /{repo_id}/resolve/{revision}/{filename}         the file; X-Repo-Commit, ETag, Range
    GET      /api/models/{repo_id}[/revision/{revision}]      {"id", "sha", "siblings": [{"rfilename"}]}
    GET      /api/models/{repo_id}/tree/{revision}[/{path}]   [{"type", "path", "size", "oid", "lfs"}], one page
  A revision is a branch (or tag) name or a 40-hex commit the mirror reported. Every file is served the way
  the Hub serves an LFS file: ETag and `lfs.oid` are its sha256. No redirect is needed: the client takes the
  file from the resolve address itself when the HEAD answer carries no `Location`.
- Release files (GitHub release assets, OpenAI's CLIP addresses): https://HOST/PATH is served at
  MIRROR/HOST/PATH (the layout of $CXRGEN_MIRROR), with HEAD, GET and `Range: bytes=N-`.

Faults for resume tests: `cut()` closes the connection part-way through the next bodies of a path, and
`requests` records every request seen, so a test asserts a client resumed with a Range request, or sent nothing.

The `mirror` fixture points huggingface_hub and cxrgen-bench at a started Mirror. A test module takes it with
`from .mirror import mirror_fixture  # noqa: F401` and asks for `mirror`.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

COMMIT = re.compile(r"[0-9a-f]{40}")  # what huggingface_hub takes for a commit (REGEX_COMMIT_HASH)
RANGE = re.compile(r"bytes=(\d+)-(\d*)")
API = re.compile(r"/api/models/(?P<repo>[^/]+(?:/[^/]+)?)"
                 r"(?:/revision/(?P<revision>[^/]+)|/tree/(?P<tree>[^/]+)(?P<under>/.*)?)?")
RESOLVE = re.compile(r"/(?P<repo>[^/]+(?:/[^/]+)?)/resolve/(?P<revision>[^/]+)/(?P<filename>.+)")


@dataclass(frozen=True)
class Request:
    """One request the mirror received: `path` is percent-decoded and has no query string."""
    method: str
    path: str
    range: str | None


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""  # the whole body; HEAD sends only its Content-Length


@dataclass
class Repo:
    refs: dict[str, str]  # branch or tag -> commit
    commits: dict[str, dict[str, bytes]]  # commit -> {path: bytes}

    def resolve(self, revision: str) -> str | None:
        return self.refs.get(revision) or (revision if revision in self.commits else None)


@dataclass
class Cut:
    after_bytes: int
    times: int


class Mirror:
    """An HTTP server in a background thread; `with Mirror() as m:` starts and stops it."""

    def __init__(self) -> None:
        self._repos: dict[str, Repo] = {}
        self._files: dict[str, bytes] = {}  # "/HOST/PATH" -> bytes
        self._cuts: dict[str, Cut] = {}
        self._requests: list[Request] = []
        self._lock = threading.Lock()  # handler threads and the test thread share the state above
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------------------------
    def start(self) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.mirror = self  # type: ignore[attr-defined]  # how a handler finds its mirror
        # A short poll: shutdown() waits up to one interval (0.5 s by default, in every test's teardown).
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="test-mirror", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()  # type: ignore[union-attr]
            self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the mirror is not started: use `with Mirror() as m:` or call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- content ------------------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, files: dict[str, bytes], commit: str | None = None,
                 branch: str = "main") -> str:
        """A Hub model repository whose ``branch`` points at a commit holding ``files``; returns the commit
        (``commit`` when given, else a sha derived from the repository name and the files' content)."""
        commit = commit or _commit_sha(repo_id, files)
        if not COMMIT.fullmatch(commit):
            raise ValueError(f"commit {commit!r} is not 40 lower-case hex digits: huggingface_hub would take it "
                             "for a branch name")
        with self._lock:
            repo = self._repos.setdefault(repo_id, Repo({}, {}))
            repo.commits[commit] = dict(files)
            repo.refs[branch] = commit
        return commit

    def set_file(self, repo_id: str, path: str, data: bytes, *, branch: str = "main",
                 same_commit: bool = False) -> str:
        """``path`` of ``branch`` now holds ``data``: in a new commit the branch moves to (older commits keep
        their files), or, with ``same_commit``, changed under the commit the branch already names (an upstream
        that rewrote a file without a new commit). Returns the commit the branch names afterwards."""
        with self._lock:
            repo = self._repos[repo_id]
            current = repo.refs[branch]
            if same_commit:
                repo.commits[current][path] = data
                return current
            files = {**repo.commits[current], path: data}
        return self.add_repo(repo_id, files, branch=branch)

    def add_file(self, path: str, data: bytes) -> str:
        """A release file; ``path`` is "HOST/PATH" or its original "https://HOST/PATH" address. Returns the
        mirror's address for it, MIRROR/HOST/PATH. Adding it again replaces the bytes."""
        key = self._path(path)
        with self._lock:
            self._files[key] = data
        return self.url + key

    def commit(self, repo_id: str, branch: str = "main") -> str:
        """The commit ``branch`` of ``repo_id`` names now."""
        with self._lock:
            return self._repos[repo_id].refs[branch]

    # --- faults and the record ----------------------------------------------------------------------------
    def cut(self, path_or_url: str, after_bytes: int, times: int = 1) -> None:
        """The next ``times`` GET answers for this path send their headers (with the full Content-Length)
        and ``after_bytes`` bytes of the body, then close the connection: the client sees a broken download."""
        with self._lock:
            self._cuts[self._path(path_or_url)] = Cut(after_bytes, times)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, path_or_url: str) -> list[Request]:
        key = self._path(path_or_url)
        return [r for r in self.requests if r.path == key]

    def _path(self, path_or_url: str) -> str:
        """"/HOST/PATH" for a mirror address, an original https://HOST/PATH address or "HOST/PATH"."""
        if self._server is not None and path_or_url.startswith(self.url):
            path_or_url = path_or_url[len(self.url):]
        elif "://" in path_or_url:
            path_or_url = path_or_url.split("://", 1)[1]
        return "/" + unquote(path_or_url).lstrip("/")

    # --- answering (called by the handler threads) --------------------------------------------------------
    def answer(self, method: str, target: str, range_header: str | None) -> tuple[Response, int | None]:
        """The response to a request, and where to cut its body (None: send it all)."""
        split = urlsplit(target)
        path = unquote(split.path)
        with self._lock:
            self._requests.append(Request(method, path, range_header))
            cut = self._cuts.get(path) if method == "GET" else None
            if cut is not None:
                cut.times -= 1
                if cut.times <= 0:
                    del self._cuts[path]
            response = self._route(split.path, parse_qs(split.query), range_header)
        return response, (cut.after_bytes if cut else None)

    def _route(self, raw_path: str, query: dict[str, list[str]], range_header: str | None) -> Response:
        # Routes match the raw path: a revision such as "refs/pr/1" arrives percent-encoded as one segment.
        if unquote(raw_path) in self._files:
            return _ranged(self._files[unquote(raw_path)], range_header)
        if raw_path == "/api/agent-harnesses":  # read for the User-Agent once a process, unless telemetry is off
            return _json({"standardEnvVars": [], "harnesses": {}})
        if match := API.fullmatch(raw_path):
            repo_id = unquote(match["repo"])
            if match["tree"] is None:
                return self._info(repo_id, unquote(match["revision"] or "main"))
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            return self._tree(repo_id, unquote(match["tree"]), unquote(match["under"] or "").strip("/"), recursive)
        if match := RESOLVE.fullmatch(raw_path):
            return self._resolve(unquote(match["repo"]), unquote(match["revision"]), unquote(match["filename"]),
                                 range_header)
        return Response(404, {"X-Error-Message": "not on this mirror"})

    def _commit_of(self, repo_id: str, revision: str) -> tuple[str | None, Response | None]:
        # The X-Error-Code values are the ones huggingface_hub turns into its typed errors (hf_raise_for_status).
        repo = self._repos.get(repo_id)
        if repo is None:
            return None, Response(404, {"X-Error-Code": "RepoNotFound"})
        commit = repo.resolve(revision)
        if commit is None:
            return None, Response(404, {"X-Error-Code": "RevisionNotFound"})
        return commit, None

    def _info(self, repo_id: str, revision: str) -> Response:
        commit, error = self._commit_of(repo_id, revision)
        if error:
            return error
        files = self._repos[repo_id].commits[commit]
        return _json({"id": repo_id, "modelId": repo_id, "sha": commit, "private": False,
                      "siblings": [{"rfilename": path} for path in sorted(files)]})

    def _tree(self, repo_id: str, revision: str, under: str, recursive: bool) -> Response:
        commit, error = self._commit_of(repo_id, revision)
        if error:
            return error
        prefix = under + "/" if under else ""
        entries: dict[str, dict] = {}
        for path, data in sorted(self._repos[repo_id].commits[commit].items()):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix):].split("/")
            # Folders on the way are listed too, as the Hub does (their oid is a stand-in: downloads never read it).
            for depth in range(1, len(parts) if recursive else min(len(parts), 2)):
                folder = prefix + "/".join(parts[:depth])
                entries.setdefault(folder, {"type": "directory", "path": folder, "oid": _sha1(folder.encode())})
            if recursive or len(parts) == 1:
                entries[path] = _tree_file(path, data)
        if under and not entries:
            return Response(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit})
        return _json(list(entries.values()))

    def _resolve(self, repo_id: str, revision: str, filename: str, range_header: str | None) -> Response:
        commit, error = self._commit_of(repo_id, revision)
        if error:
            return error
        data = self._repos[repo_id].commits[commit].get(filename)
        if data is None:  # the client caches that the file is absent at this commit (.no_exist)
            return Response(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit})
        # X-Repo-Commit and ETag are what huggingface_hub refuses to download without (get_hf_file_metadata).
        response = _ranged(data, range_header)
        response.headers.update({"X-Repo-Commit": commit, "ETag": f'"{_sha256(data)}"'})
        return response


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0, the handler's default: one request per connection, so a stopped mirror leaves no idle
    # keep-alive thread behind, and a cut is simply the end of the connection before Content-Length bytes.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._reply(send_body=True)

    def do_HEAD(self) -> None:
        self._reply(send_body=False)

    def _reply(self, send_body: bool) -> None:
        response, cut_after = self.server.mirror.answer(  # type: ignore[attr-defined]
            self.command, self.path, self.headers.get("Range"))
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if send_body:
            self.wfile.write(response.body if cut_after is None else response.body[:cut_after])

    def log_message(self, format: str, *args: object) -> None:
        pass  # the record is Mirror.requests; stderr stays for the test's own output


def _ranged(data: bytes, range_header: str | None) -> Response:
    """``data``, or the part a `Range: bytes=N-[M]` asks for (206), as a file server answers."""
    size = len(data)
    headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
    match = RANGE.fullmatch(range_header.strip()) if range_header else None
    if match is None:
        return Response(200, headers, data)
    start = int(match[1])
    if start >= size:
        return Response(416, {**headers, "Content-Range": f"bytes */{size}"})
    end = min(int(match[2]) if match[2] else size - 1, size - 1)
    return Response(206, {**headers, "Content-Range": f"bytes {start}-{end}/{size}"}, data[start:end + 1])


def _json(value: object) -> Response:
    return Response(200, {"Content-Type": "application/json"}, json.dumps(value).encode())


def _tree_file(path: str, data: bytes) -> dict:
    """A tree entry as the Hub lists an LFS file: `oid` is the git blob of the pointer, `lfs.oid` the content's
    sha256 (huggingface_hub's RepoFile reads path, size, oid and lfs {oid, size, pointerSize})."""
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{_sha256(data)}\nsize {len(data)}\n".encode()
    return {"type": "file", "path": path, "size": len(data), "oid": _sha1(b"blob %d\0" % len(pointer) + pointer),
            "lfs": {"oid": _sha256(data), "size": len(data), "pointerSize": len(pointer)}}


def _commit_sha(repo_id: str, files: dict[str, bytes]) -> str:
    """Same name and content, same commit: tests can write expected shas down."""
    listing = json.dumps([repo_id, sorted((path, _sha256(data)) for path, data in files.items())])
    return _sha1(listing.encode())


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- pytest ---------------------------------------------------------------------------------------------------
OFFLINE_VARIABLES = ("CXRGEN_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def point_at(mirror: Mirror, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Send huggingface_hub's Hub requests and cxrgen-bench's release-file requests to ``mirror``, online, with
    a Hub home (cache, token) in ``home``. huggingface_hub reads HF_ENDPOINT, HF_HUB_CACHE and HF_HUB_OFFLINE
    once, when it is imported, so its constants are patched as well as the environment (which subprocesses read).
    The offline variables conftest sets are cleared (a test of --offline sets them again), and telemetry is off.
    """
    from huggingface_hub import constants

    hub_cache, token = home / "hub", home / "token"
    values = {"HF_ENDPOINT": mirror.url, "HF_HOME": str(home), "HF_HUB_CACHE": str(hub_cache),
              "HF_TOKEN_PATH": str(token), "CXRGEN_MIRROR": mirror.url, "HF_HUB_DISABLE_TELEMETRY": "1"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in (*OFFLINE_VARIABLES, "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):  # no user token goes to the mirror
        monkeypatch.delenv(name, raising=False)
    patched = {"ENDPOINT": mirror.url,
               "HUGGINGFACE_CO_URL_TEMPLATE": mirror.url + "/{repo_id}/resolve/{revision}/{filename}",
               "HF_HOME": str(home), "HF_HUB_CACHE": str(hub_cache), "HF_HUB_OFFLINE": False,
               "HF_TOKEN_PATH": str(token), "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
               # Telemetry on, the first request of a process fetches /api/agent-harnesses (for the User-Agent)
               # and caches it under HF_HOME: request records would depend on which test ran first.
               "HF_HUB_DISABLE_TELEMETRY": True, "AGENT_HARNESSES_PATH": str(home / ".agent_harnesses.json")}
    for name, value in patched.items():
        monkeypatch.setattr(constants, name, value)


@pytest.fixture(name="mirror")  # imported as mirror_fixture: a test's `mirror` argument shadows no import
def mirror_fixture(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    """A started, empty Mirror that huggingface_hub (HF_ENDPOINT) and cxrgen-bench's release downloads
    ($CXRGEN_MIRROR) talk to, online, with a Hub cache of the test's own."""
    with Mirror() as started:
        point_at(started, tmp_path_factory.mktemp("hf-home"), monkeypatch)
        yield started
