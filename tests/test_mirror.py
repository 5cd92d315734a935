"""The test mirror speaks enough of the Hub and of a release host for huggingface_hub's own clients."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import httpx2
import pytest

from .mirror import Mirror, Request, mirror_fixture  # noqa: F401 — the `mirror` fixture

WEIGHTS = bytes(range(256)) * 40  # 10 240 bytes: a body long enough to cut in the middle
CONFIG = b'{"layers": 2}'
REPO = "mirror-tests/tiny"


def test_hf_hub_download_by_branch_and_by_commit(mirror):
    from huggingface_hub import constants, hf_hub_download

    commit = mirror.add_repo(REPO, {"config.json": CONFIG, "weights/model.safetensors": WEIGHTS})

    by_branch = Path(hf_hub_download(REPO, "weights/model.safetensors", revision="main"))
    by_commit = Path(hf_hub_download(REPO, "config.json", revision=commit))

    assert by_branch.read_bytes() == WEIGHTS and by_commit.read_bytes() == CONFIG
    assert by_branch.parent.parent.name == commit  # snapshots/<commit>/weights/model.safetensors
    assert by_branch.is_relative_to(constants.HF_HUB_CACHE)  # the fixture's cache, not the user's
    assert [(r.method, r.path) for r in mirror.requests] == [
        ("HEAD", f"/{REPO}/resolve/main/weights/model.safetensors"),
        ("GET", f"/{REPO}/resolve/main/weights/model.safetensors"),
        ("HEAD", f"/{REPO}/resolve/{commit}/config.json"),
        ("GET", f"/{REPO}/resolve/{commit}/config.json")]


def test_snapshot_download_with_patterns_into_a_folder(mirror, tmp_path):
    from huggingface_hub import HfApi, snapshot_download

    commit = mirror.add_repo(REPO, {"config.json": CONFIG, "weights/model.safetensors": WEIGHTS,
                                    "weights/model.bin": b"pickle", "README.md": b"# tiny"})

    folder = Path(snapshot_download(REPO, revision="main", allow_patterns=["*.json", "weights/*.safetensors"],
                                    local_dir=tmp_path / "out"))

    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and ".cache" not in p.parts)  # .cache: huggingface_hub's own bookkeeping
    assert files == ["config.json", "weights/model.safetensors"]
    assert (folder / "weights" / "model.safetensors").read_bytes() == WEIGHTS
    assert HfApi().model_info(REPO, revision="main").sha == commit
    assert [r.path for r in mirror.requests[:2]] == [f"/api/models/{REPO}/revision/main",
                                                     f"/api/models/{REPO}/tree/{commit}"]


def test_snapshot_download_at_a_commit_asks_nothing_the_second_time(mirror):
    """cxrgen-bench's way: a pinned commit, into the Hub cache; once there, the mirror is not asked again."""
    from huggingface_hub import snapshot_download

    commit = mirror.add_repo(REPO, {"config.json": CONFIG, "weights/model.safetensors": WEIGHTS})
    first = snapshot_download(REPO, revision=commit, allow_patterns=["weights/*"])
    asked = len(mirror.requests)
    second = snapshot_download(REPO, revision=commit, allow_patterns=["weights/*"])

    assert first == second and (Path(first) / "weights" / "model.safetensors").read_bytes() == WEIGHTS
    assert asked == 3 and len(mirror.requests) == asked  # the tree, then HEAD and GET of the one file


def test_a_changed_file_gets_a_new_commit_and_etag(mirror):
    from huggingface_hub import hf_hub_download, hf_hub_url
    from huggingface_hub.file_download import get_hf_file_metadata

    def metadata(revision):
        return get_hf_file_metadata(hf_hub_url(REPO, "config.json", revision=revision))

    first = mirror.add_repo(REPO, {"config.json": CONFIG})
    before = metadata("main")
    second = mirror.set_file(REPO, "config.json", b'{"layers": 3}')

    assert second != first and metadata("main").commit_hash == second
    assert metadata("main").etag != before.etag
    assert Path(hf_hub_download(REPO, "config.json")).read_bytes() == b'{"layers": 3}'
    assert Path(hf_hub_download(REPO, "config.json", revision=first)).read_bytes() == CONFIG  # history kept

    # An upstream that rewrites a file under the same commit: same commit, another ETag.
    assert mirror.set_file(REPO, "config.json", b'{"layers": 4}', same_commit=True) == second
    rewritten = metadata(second)
    assert rewritten.commit_hash == second
    assert rewritten.etag == hashlib.sha256(b'{"layers": 4}').hexdigest()  # an LFS file's ETag: its sha256


def test_unknown_repo_revision_and_file_are_the_hubs_errors(mirror):
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    mirror.add_repo(REPO, {"config.json": CONFIG})
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("mirror-tests/absent", "config.json")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO, "config.json", revision="v9")
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(REPO, "absent.json")


def test_http_get_resumes_a_cut_release_file_with_a_range_request(mirror, monkeypatch):
    from huggingface_hub import constants
    from huggingface_hub.file_download import http_get

    url = mirror.add_file("https://github.com/mlmed/torchxrayvision/releases/download/v1/x.pt", WEIGHTS)
    path = "/github.com/mlmed/torchxrayvision/releases/download/v1/x.pt"  # the original host leads the path
    assert url == mirror.url + path
    # http_get writes whole chunks (10 MiB): bytes of an unfinished chunk are lost when the connection breaks.
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 512)
    mirror.cut(url, after_bytes=1024)

    out = io.BytesIO()
    http_get(url, out)  # its own retry continues where the broken answer stopped (after a 1 s pause)

    assert out.getvalue() == WEIGHTS
    assert mirror.requests_for(url) == [Request("GET", path, None), Request("GET", path, "bytes=1024-")]


def test_http_get_continues_a_partial_file(mirror):
    """What cxrgen-bench does with a `.part` file left by an earlier run: resume_size = its length."""
    from huggingface_hub.file_download import http_get

    url = mirror.add_file("openaipublic.azureedge.net/clip/models/abc/ViT-B-32.pt", WEIGHTS)
    out = io.BytesIO(WEIGHTS[:4000])
    out.seek(0, io.SEEK_END)

    http_get(url, out, resume_size=4000)

    assert out.getvalue() == WEIGHTS
    assert [(r.method, r.range) for r in mirror.requests] == [("GET", "bytes=4000-")]


def test_release_file_head_and_ranges(mirror):
    url = mirror.add_file("github.com/o/r/releases/download/v1/w.pt", WEIGHTS)

    head = httpx2.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(WEIGHTS)) and head.headers["Accept-Ranges"] == "bytes"

    part = httpx2.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == WEIGHTS[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(WEIGHTS)}"
    assert httpx2.get(url, headers={"Range": f"bytes={len(WEIGHTS)}-"}).status_code == 416
    assert httpx2.get(mirror.url + "/github.com/o/r/absent.pt").status_code == 404


def test_the_fixture_points_huggingface_hub_at_the_mirror_and_online(mirror):
    from huggingface_hub import constants

    assert constants.ENDPOINT == os.environ["HF_ENDPOINT"] == mirror.url
    assert not constants.is_offline_mode() and "CXRGEN_OFFLINE" not in os.environ
    assert os.environ["CXRGEN_MIRROR"] == mirror.url
    assert mirror.requests == []  # nothing was asked of it yet


def test_a_stopped_mirror_refuses_connections():
    with Mirror() as started:
        url = started.add_file("example.org/f", b"x")
        assert httpx2.get(url).content == b"x"
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(url)
