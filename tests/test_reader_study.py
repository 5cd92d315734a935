"""The radiologists' reader study (RoentGen §6.5, issue 25): agreement statistics against scikit-learn and
`krippendorff`; what `create` writes; the server's durability (kill -9), concurrency and every security
case over real HTTP; a real browser walking a reader through items; the analysis of a study answered by
simulated readers of known behaviour; the CLI's messages."""
from __future__ import annotations

import csv
import http.client
import io
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from cxrgen_bench.errors import InputError
from cxrgen_bench.functional import cohen_kappa, krippendorff_alpha

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
GENERATORS = ("phantom-faithful", "phantom-degraded", "phantom-flips-laterality")
N_PROMPTS = 24
SCRIPT = "<script>alert('pwned')</script>"


# --- agreement statistics: parity ------------------------------------------------------------------------------

def test_cohen_kappa_matches_scikit_learn_for_every_weighting():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    for trial in range(60):
        n = int(rng.integers(2, 60))
        a = rng.integers(-2, 3, n)
        b = np.clip(a + rng.integers(-1, 2, n), -2, 2) if trial % 2 else rng.integers(-2, 3, n)
        if trial % 5 == 0:
            a, b = a * 3 + 1, b * 3 + 1  # values that are not the category indices
        for weights in ("quadratic", "linear", None):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = cohen_kappa_score(a, b, weights=weights)
            got = cohen_kappa(a, b, weights)
            assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)
    # the whole scale as labels: weights by scale steps even where a category was never used
    a, b = [-2, 0, 1, 2, 2, 0], [-2, 1, 1, 2, 0, 0]
    assert cohen_kappa(a, b, labels=[-2, -1, 0, 1, 2]) == pytest.approx(
        cohen_kappa_score(a, b, weights="quadratic", labels=[-2, -1, 0, 1, 2]))


def test_cohen_kappa_leaves_out_missing_ratings_and_says_when_it_is_undefined():
    from sklearn.metrics import cohen_kappa_score

    a = np.array([2, 1, np.nan, 0, -1, 2, 1])
    b = np.array([2, 0, 1, np.nan, -1, 1, 1])
    keep = np.isfinite(a) & np.isfinite(b)
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a[keep], b[keep], weights="quadratic"))
    assert np.isnan(cohen_kappa([1, 1, 1], [1, 1, 1]))  # one category: chance disagreement is zero
    assert np.isnan(cohen_kappa([np.nan, 1], [2, np.nan]))  # no item rated by both
    assert cohen_kappa([0, 0], [1, 1]) == 0.0  # two constant readers who disagree
    names_a, names_b = ["low", "mid", "high", "mid", "low", None], ["low", "high", "high", "mid", "mid", "low"]
    assert cohen_kappa(names_a, names_b) == pytest.approx(  # category names: sorted, as scikit-learn does
        cohen_kappa_score(names_a[:5], names_b[:5], weights="quadratic"))
    with pytest.raises(InputError, match="different numbers of items"):
        cohen_kappa([1, 2], [1, 2, 3])
    with pytest.raises(InputError, match="weights"):
        cohen_kappa([1, 2], [1, 2], weights="cubic")
    with pytest.raises(InputError, match="not among the categories"):
        cohen_kappa([1, 5], [1, 2], labels=[-2, -1, 0, 1, 2])


def test_krippendorff_alpha_matches_the_krippendorff_package_with_missing_ratings():
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(1)
    for trial in range(150):
        readers, items = int(rng.integers(2, 6)), int(rng.integers(2, 40))
        table = rng.integers(-2, 3, (readers, items)).astype(float)
        table[rng.random((readers, items)) < 0.3] = np.nan  # missing ratings anywhere
        if trial % 3 == 0:
            table += 3  # positive values for the ratio level
        for level in ("nominal", "ordinal", "interval", "ratio"):
            if level == "ratio" and np.nanmin(table) < 0:
                continue
            got = krippendorff_alpha(table, level)
            try:
                expected = krippendorff.alpha(reliability_data=table, level_of_measurement=level)
            except (ValueError, ZeroDivisionError):
                expected = float("nan")
            if np.isnan(expected) or np.isnan(got):
                assert np.isnan(expected) and np.isnan(got), (level, table)
            else:
                assert got == pytest.approx(expected, abs=1e-12), (level, table)
    # Krippendorff's own example (2011, §3: 4 coders, 12 units, nominal α = 0.743)
    example = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
                        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
                        [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
                        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan]])
    assert krippendorff_alpha(example, "nominal") == pytest.approx(0.743, abs=1e-3)


def test_krippendorff_alpha_undefined_cases_and_bad_input():
    assert np.isnan(krippendorff_alpha([[1, 1, 1], [1, 1, 1]]))  # a single value: no variation to agree on
    assert np.isnan(krippendorff_alpha([[1, np.nan], [np.nan, 2]]))  # no item rated twice
    assert krippendorff_alpha([[1, 2, 3], [1, 2, 3]]) == 1.0
    with pytest.raises(InputError, match="2-D"):
        krippendorff_alpha([1, 2, 3])
    with pytest.raises(InputError, match="level"):
        krippendorff_alpha([[1, 2], [1, 2]], level="fuzzy")


# --- fixtures: phantom stand-ins through the real harness ----------------------------------------------------------

@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """24 phantom prompts with their real phantoms and three stand-ins' images (2 samples each), as the demo makes
    them (cxrgen_bench/demo.py)."""
    from cxrgen_bench.calibration.dataset import PhantomDataset
    from cxrgen_bench.data.datasets.base import PromptTable
    from cxrgen_bench.generation import generate

    out = tmp_path_factory.mktemp("reader-source")
    table = PhantomDataset(out / "dataset").prompts(limit=N_PROMPTS, seed=0)
    prompts = PromptTable(table.rows, table.description).write(out / "dataset" / "prompts.csv")
    generate(generator="real", model=str(out / "dataset"), prompts=prompts, out=out / "real",
             profile="calibration-phantom", samples_per_prompt=1, progress=False)
    for name in GENERATORS:
        generate(generator=name, prompts=prompts, out=out / name, profile="calibration-phantom", samples_per_prompt=2,
                 progress=False)
    return {"root": out, "prompts": prompts, "real": out / "real", **{g: out / g for g in GENERATORS}}


def make_study(source, out: Path, generators=("phantom-faithful",), realism=4, alignment=4, readers=("r1", "r2"),
               **kwargs):
    from cxrgen_bench.reader.create import create_study

    return create_study(out, {g: source[g] for g in generators}, kwargs.pop("prompts", source["prompts"]),
                        real=source["real"], realism_pairs=realism, alignment_items=alignment, readers=readers,
                        size=kwargs.pop("size", 64), **kwargs)


class Reader:
    """A reader over HTTP (one keep-alive connection), reading the item JSON and posting the form."""

    def __init__(self, base_url: str, link: str):
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.root = urlsplit(link).path.rstrip("/")

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        data = None
        if body is not None:
            from urllib.parse import urlencode

            data = urlencode(body).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    def item(self, position):
        status, _, body = self.request("GET", f"{self.root}/item/{position}", headers={"Accept": "application/json"})
        assert status == 200, (status, body[:200])
        return json.loads(body)

    def answer(self, position, choice, comment="", **override):
        form = self.item(position)["form"]
        fields = {"csrf": form["csrf"], "item": form["item"], "nonce": form["nonce"], "served": form["served"],
                  "choice": choice, "comment": comment, "elapsed_ms": 1000, **override}
        return self.request("POST", form["action"], fields, headers=override.pop("headers", None) or {})

    def close(self):
        self.conn.close()


def stored(study: Path) -> dict[tuple[str, int], tuple[int, str, int]]:
    """(reader, position) → (choice, comment, revisions), read from the database as the owner."""
    conn = sqlite3.connect(study / "study.db")
    try:
        rows = conn.execute("SELECT r.name, a.position, ans.choice, ans.comment, ans.revisions FROM answers ans "
                            "JOIN assignments a ON a.id = ans.assignment_id JOIN readers r ON r.id = a.reader_id")
        return {(r, p): (c, m, v) for r, p, c, m, v in rows}
    finally:
        conn.close()


# --- create -------------------------------------------------------------------------------------------------------

def test_create_writes_a_blinded_study(source, tmp_path):
    from cxrgen_bench.reader.db import SECRET_TABLES, connect

    summary = make_study(source, tmp_path / "study", generators=("phantom-faithful", "phantom-degraded"), realism=4,
                         alignment=3, seed=7)
    study = tmp_path / "study"
    assert summary["items"] == {"realism": 8, "alignment": 6}
    assert (study.stat().st_mode & 0o777) == 0o700 and (study / "study.db").stat().st_mode & 0o077 == 0
    with open(study / "readers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["reader"] for r in rows] == ["r1", "r2"] and list(rows[0]) == ["reader", "url"]
    assert all(r["url"].startswith("http://127.0.0.1:8765/r/") and len(r["url"]) == 68 for r in rows)
    images = sorted((study / "images").iterdir())
    sizes = {p.stat().st_size for p in images}
    assert len(sizes) == 1  # uncompressed: every file has the same number of bytes, real or synthetic
    assert {p.stat().st_mtime for p in images} == {946684800}
    for path in images:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[24] == 8 and data[25] == 0  # 8-bit grayscale
        chunks, i = [], 8
        while i < len(data):
            n = int.from_bytes(data[i:i + 4], "big")
            chunks.append(data[i + 4:i + 8].decode())
            i += 12 + n
        assert set(chunks) == {"IHDR", "IDAT", "IEND"}  # no metadata chunk of any kind
        assert len(path.stem) == 24 and "ph00" not in path.name
    owner = sqlite3.connect(study / "study.db")
    assert owner.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    seen = json.dumps(owner.execute("SELECT * FROM items").fetchall())
    assert "ph00-" not in seen and "phantom" not in seen and str(source["root"]) not in seen
    key = owner.execute("SELECT unit, prompt_id, generator, finding, real_image FROM answer_key ORDER BY item_id").fetchall()
    owner.close()
    assert {k[2] for k in key} == {"phantom-faithful", "phantom-degraded"}
    realism = [k for k in key if k[4]]
    assert len({k[1] for k in realism}) == 8  # no prompt (so no real image) twice in the realism task
    reader = connect(study / "study.db", role="reader")
    for table in SECRET_TABLES:
        with pytest.raises(sqlite3.DatabaseError, match="prohibited|not authorized"):
            reader.execute(f"SELECT * FROM {table}").fetchall()
    reader.close()
    # reproducible from the seed: the same prompts in the same units and the same order per reader
    make_study(source, tmp_path / "again", generators=("phantom-faithful", "phantom-degraded"), realism=4, alignment=3,
               seed=7)
    again = sqlite3.connect(tmp_path / "again" / "study.db")
    assert again.execute("SELECT unit, prompt_id, generator, finding, real_image FROM answer_key ORDER BY item_id"
                         ).fetchall() == key
    order = "SELECT reader_id, position, item_id, swap FROM assignments ORDER BY reader_id, position"
    first = sqlite3.connect(study / "study.db")
    assert again.execute(order).fetchall() == first.execute(order).fetchall()
    settings = json.loads((study / "study.json").read_text())["settings"]
    assert settings["balance_by"] == "labels" and "rarest positive" in settings["balance_rule"]
    assert sum(settings["drawn"]["realism"].values()) == 4


def test_create_refuses_bad_input_with_a_message_naming_it(source, tmp_path):
    with pytest.raises(InputError, match="never overwritten"):
        (tmp_path / "taken").mkdir()
        make_study(source, tmp_path / "taken")
    with pytest.raises(InputError, match=r"asked for 30 realism pairs.*allow 24"):
        make_study(source, tmp_path / "s1", realism=30)
    with pytest.raises(InputError, match="alignment items"):
        make_study(source, tmp_path / "s2", realism=0, alignment=60)
    extra = tmp_path / "extra.csv"
    text = source["prompts"].read_text().rstrip("\n").splitlines()
    extra.write_text("\n".join(text + [text[-1].replace("ph00-0023", "ph00-9999", 1)]) + "\n")
    with pytest.raises(InputError, match=r"no image for 1 prompt\(s\).*ph00-9999"):
        make_study(source, tmp_path / "s3", prompts=extra)
    with pytest.raises(InputError, match="reader name"):
        make_study(source, tmp_path / "s4", readers=("r1", "bad/name"))
    with pytest.raises(InputError, match="--real"):
        from cxrgen_bench.reader.create import create_study

        create_study(tmp_path / "s5", {"g": source["phantom-faithful"]}, source["prompts"], realism_pairs=2,
                     alignment_items=0)
    broken = tmp_path / "broken"
    shutil.copytree(source["phantom-degraded"], broken)
    (broken / "manifest.csv").unlink(missing_ok=True)
    victim = min(broken.glob("*.png"))
    victim.write_bytes(victim.read_bytes()[:100])  # truncated
    with pytest.raises(InputError, match=victim.name):
        from cxrgen_bench.reader.create import create_study

        create_study(tmp_path / "s6", {"broken": broken}, source["prompts"], real=source["real"], realism_pairs=24,
                     alignment_items=0)
    assert not any(p.name.startswith(("s1", "s2", "s3", "s4", "s5", "s6", ".s")) for p in tmp_path.iterdir())


# --- the server: durability and concurrency -----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(study: Path, port: int, host: str = "127.0.0.1") -> subprocess.Popen:
    code = ("import sys; from cxrgen_bench.reader.serve import serve; "
            "serve(sys.argv[1], host=sys.argv[2], port=int(sys.argv[3]))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(study), host, str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read())
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("server did not start")


def test_kill_9_at_random_moments_loses_no_acknowledged_answer(source, tmp_path):
    """The server in its own process, killed with SIGKILL three times while a reader answers (after a random
    number of answers, a random few milliseconds into the next request), restarted each time: every answer
    the server acknowledged is in the database, with its value."""
    from cxrgen_bench.reader.serve import links

    study = tmp_path / "study"
    make_study(source, study, realism=12, alignment=12)
    total = 24
    port = _free_port()
    link = links(study, f"http://127.0.0.1:{port}")["readers"]["r1"]
    rng = random.Random(0)
    acknowledged: dict[int, int] = {}
    logs = []
    state = {"position": 1}
    proc = _start(study, port)
    for kill in range(4):
        stop = threading.Event()

        def answer_until_killed(stop=stop):
            reader = Reader(f"http://127.0.0.1:{port}", link)
            try:
                while state["position"] <= total and not stop.is_set():
                    choice = rng.choice([-2, -1, 0, 1, 2])
                    status, _, _ = reader.answer(state["position"], choice)
                    if status == 303:  # acknowledged: the server committed it before answering
                        acknowledged[state["position"]] = choice
                        state["position"] += 1
            except (OSError, http.client.HTTPException, AssertionError, json.JSONDecodeError):
                pass  # the server died under us: not acknowledged, answered again after the restart
            finally:
                reader.close()

        worker = threading.Thread(target=answer_until_killed)
        worker.start()
        if kill == 3:
            worker.join()
            break
        target = state["position"] + rng.randint(2, 4)
        while state["position"] < target and worker.is_alive():
            time.sleep(0.0005)
        time.sleep(rng.uniform(0, 0.004))  # somewhere inside the next request, or between two
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stop.set()
        worker.join()
        logs.append(proc.stderr.read())
        proc = _start(study, port)  # the same study, as a lab would restart it
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    logs.append(proc.stderr.read())
    assert len(acknowledged) == total and len(logs) == 4
    answers = stored(study)
    assert len(answers) == total
    for pos, choice in acknowledged.items():
        assert answers[("r1", pos)][0] == choice, pos
    conn = sqlite3.connect(study / "study.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    tokens = [t for (t,) in conn.execute("SELECT token FROM readers")] + \
        [v for (v,) in conn.execute("SELECT value FROM meta WHERE key = 'admin_token'")]
    conn.close()
    assert all(t not in log for t in tokens for log in logs)  # the access log never prints a token
    assert any("POST /r/…/item/" in log for log in logs)


def test_two_readers_answer_fifty_items_each_at_once(source, tmp_path):
    from cxrgen_bench.reader.serve import BackgroundServer

    study = tmp_path / "study"
    summary = make_study(source, study, generators=("phantom-faithful", "phantom-degraded"), realism=12, alignment=13)
    assert sum(summary["items"].values()) == 50
    sent: dict[tuple[str, int], int] = {}
    latencies, errors = [], []
    with BackgroundServer(study) as server:
        found = server.links()["readers"]

        def work(name, seed):
            rng = random.Random(seed)
            reader = Reader(server.url, found[name])
            try:
                for position in range(1, 51):
                    choice = rng.choice([-2, -1, 0, 1, 2])
                    started = time.monotonic()
                    status, _, _ = reader.answer(position, choice, comment=f"{name} {position}")
                    latencies.append(time.monotonic() - started)
                    if status != 303:
                        errors.append((name, position, status))
                    sent[name, position] = choice
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                reader.close()

        threads = [threading.Thread(target=work, args=(n, i)) for i, n in enumerate(("r1", "r2"))]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    print(f"two readers × 50 answers at once: slowest reply {1000 * max(latencies):.0f} ms, {elapsed:.2f} s in all")
    assert errors == []
    answers = stored(study)
    assert len(answers) == 100
    for (name, position), choice in sent.items():
        assert answers[name, position] == (choice, f"{name} {position}", 1)
    assert max(latencies) < 2.0 and elapsed < 30, (max(latencies), elapsed)
    conn = sqlite3.connect(study / "study.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 100


# --- the server: nobody where they do not belong ------------------------------------------------------------------

def hostile_prompts(source, path: Path) -> Path:
    """The prompts, each holding a script and quotes (prompts are data)."""
    with open(source["prompts"], newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["text"] = f"{row['text']} {SCRIPT} & \"quotes\""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def hostile(source, tmp_path):
    """A served study whose prompts hold a script, with both readers' links."""
    from cxrgen_bench.reader.serve import BackgroundServer

    study = tmp_path / "study"
    make_study(source, study, realism=2, alignment=2, prompts=hostile_prompts(source, tmp_path / "prompts.csv"))
    with BackgroundServer(study) as server:
        yield {"study": study, "server": server, **server.links()}


def raw(server, path, method="GET", headers=None, body=None):
    """A request exactly as written (no client-side normalisation of '..' or '%2f')."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in {"Host": f"127.0.0.1:{server.port}", **(headers or {})}.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_no_route_shows_the_key_another_readers_answers_or_a_file_outside_the_images(hostile):
    server, study = hostile["server"], hostile["study"]
    r1 = Reader(server.url, hostile["readers"]["r1"])
    r2 = Reader(server.url, hostile["readers"]["r2"])
    root1 = r1.root
    token1 = root1.rsplit("/", 1)[1]
    image = r1.item(1)["images"][0].rsplit("/", 1)[1]
    # wrong tokens, and each token where it does not belong, are simply not found
    for path in (f"/r/{token1[:-1]}x/item/1", f"/r/{token1}x/", "/r//item/1", f"/admin/{token1}/",
                 f"/r/{urlsplit(hostile['admin']).path.split('/')[2]}/item/1", "/admin/nope/export.csv"):
        assert raw(server, path)[0] == 404, path
    # path traversal in every spelling, absolute paths, and names that are not this reader's images
    for name in ("..%2fstudy.db", "%2e%2e%2fstudy.db", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%252fstudy.db",
                 "%2fetc%2fpasswd", "..\\study.db", "study.db", "readers.csv", f"{image}%00.png",
                 "AAAAAAAAAAAAAAAAAAAAAAAA.png"):
        assert raw(server, f"{root1}/img/{name}")[0] == 404, name
    for path in (f"{root1}/img/../../study.db", f"{root1}/../../study.db", "/etc/passwd", "//etc/passwd",
                 f"/r/{token1}/img/../../../../etc/passwd", "/static/../study.db", "/static/%2e%2e/study.db"):
        status, _, body = raw(server, path)
        assert status in (400, 404) and b"SQLite" not in body and b"root:" not in body, path
    # a file of the image folder replaced by a link to a file outside: refused (the file is never followed)
    target = study / "images" / image
    saved = target.read_bytes()
    target.unlink()
    target.symlink_to(study / "study.db")
    assert raw(server, f"{root1}/img/{image}")[0] == 404
    target.unlink()
    target.write_bytes(saved)
    status, headers, body = raw(server, f"{root1}/img/{image}")
    assert status == 200 and body[:4] == b"\x89PNG" and "etag" not in headers and "last-modified" not in headers
    # reader 2 answers; reader 1 sees none of it, nor any part of the key, in any page of theirs
    assert r2.answer(1, 2, comment="r2 secret remark")[0] == 303
    owner = sqlite3.connect(study / "study.db")
    key_words = {w for row in owner.execute("SELECT prompt_id, generator, source_a, source_b FROM answer_key")
                 for w in row if w} | {r[0] for r in owner.execute("SELECT token FROM readers")} - {token1}
    owner.close()
    pages = []
    for k in range(1, 5):
        for accept in ("application/json", "text/html"):
            status, _, body = r1.request("GET", f"{root1}/item/{k}", headers={"Accept": accept})
            pages.append(body.decode())
            if k == 1:
                assert status == 200
    pages.append(r1.request("GET", f"{root1}/done")[2].decode())
    text = "\n".join(pages)
    assert "r2 secret remark" not in text and not [w for w in key_words if w in text]
    # another reader's item id, at the right position: not saved
    other = r2.item(1)["form"]["item"]
    status, _, _ = r1.answer(1, 1, item=other)
    assert status == 409 and ("r1", 1) not in stored(study)
    r1.close()
    r2.close()


def test_writes_refuse_other_sites_and_forged_forms(hostile):
    server, study = hostile["server"], hostile["study"]
    reader = Reader(server.url, hostile["readers"]["r1"])
    other = Reader(server.url, hostile["readers"]["r2"])
    form = reader.item(1)["form"]
    fields = {"csrf": form["csrf"], "item": form["item"], "nonce": form["nonce"], "served": form["served"],
              "choice": "2", "comment": "", "elapsed_ms": "10"}
    from urllib.parse import urlencode

    cases = [
        ({"Origin": "http://evil.example"}, fields, 403),
        ({"Origin": "null"}, fields, 403),
        ({"Sec-Fetch-Site": "cross-site"}, fields, 403),
        ({}, {**fields, "csrf": other.item(1)["form"]["csrf"]}, 403),  # another reader's CSRF token
        ({}, {k: v for k, v in fields.items() if k != "csrf"}, 403),
        ({"Content-Type": "application/json"}, fields, 415),
        ({"Host": "evil.example"}, fields, 400),  # DNS rebinding: a name that is not this machine
    ]
    for headers, body, expected in cases:
        data = urlencode(body).encode()
        sent = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        status, _, _ = raw(server, form["action"], "POST", sent, data)
        assert status == expected, (headers, status)
    assert stored(study) == {}
    skip = {"Content-Type": "application/x-www-form-urlencoded"}
    assert raw(server, f"{reader.root}/item/4", "POST", skip, urlencode(fields).encode())[0] == 409  # no skipping
    # the same origin is accepted; the same form sent twice stores one answer
    ok = {"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{server.port}",
          "Sec-Fetch-Site": "same-origin"}
    assert raw(server, form["action"], "POST", ok, urlencode({**fields, "comment": SCRIPT}).encode())[0] == 303
    assert raw(server, form["action"], "POST", ok, urlencode({**fields, "choice": "-2"}).encode())[0] == 303
    assert stored(study) == {("r1", 1): (2, SCRIPT, 1)}
    conn = sqlite3.connect(study / "study.db")
    assert conn.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 1
    conn.close()
    # data stays data: the prompt and the comment come back escaped, under a strict policy
    status, headers, body = reader.request("GET", form["action"])
    page = body.decode()
    assert SCRIPT not in page and "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert "script-src 'self'" in headers["content-security-policy"] and "default-src 'none'" in \
        headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    # ... and the admin export keeps a comment that a spreadsheet would run as a formula as text
    assert reader.answer(2, 1, comment="=HYPERLINK(\"http://evil\")")[0] == 303
    assert SCRIPT in reader.item(3)["prompt"]  # the prompt, as data in JSON, and escaped in HTML
    html = reader.request("GET", f"{reader.root}/item/3")[2].decode()
    assert SCRIPT not in html and "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in html
    status, headers, body = raw(server, urlsplit(hostile["admin"]).path + "export.csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert status == 200 and rows[1]["comment"].startswith("'=") and rows[0]["comment"] == SCRIPT
    assert "generator" not in rows[0] and "real_on_right" not in rows[0]  # no key on the web
    reader.close()
    other.close()


def test_serving_beyond_localhost_warns_and_broken_studies_are_named(source, tmp_path, capsys):
    from cxrgen_bench.cli import main

    study = tmp_path / "study"
    make_study(source, study, realism=1, alignment=1)
    port = _free_port()
    proc = _start(study, port, host="0.0.0.0")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert "WARNING" in err and "reachable from the network" in err
    broken = {}
    for case in ("newer", "damaged", "missing-image", "not-a-study"):
        copy = tmp_path / case
        shutil.copytree(study, copy)
        if case == "newer":
            conn = sqlite3.connect(copy / "study.db")
            conn.execute("UPDATE meta SET value = '99' WHERE key = 'format'")
            conn.commit()
            conn.close()
        elif case == "damaged":
            data = bytearray((copy / "study.db").read_bytes())
            data[:100] = b"\x00" * 100
            (copy / "study.db").write_bytes(bytes(data))
        elif case == "missing-image":
            next((copy / "images").iterdir()).unlink()
        else:
            (copy / "study.db").unlink()
        for action in (["serve", str(copy), "--port", str(_free_port())], ["status", str(copy)],
                       ["analyse", str(copy), "--out", str(tmp_path / f"{case}.json")]):
            if case == "missing-image" and action[0] != "serve":
                continue
            assert main(["reader-study", *action]) == 2, (case, action)
            err = capsys.readouterr().err
            assert err.startswith("cxrgen-bench: error:") and "Traceback" not in err
            broken[case] = err
    assert "newer cxrgen-bench" in broken["newer"] and "format 99" in broken["newer"]
    assert "damaged" in broken["damaged"] and "-wal" in broken["damaged"]
    assert "missing" in broken["missing-image"] and "restore the images" in broken["missing-image"]
    assert "not a reader study folder" in broken["not-a-study"]


# --- a real browser -------------------------------------------------------------------------------------------

@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_a_reader_walks_through_with_the_keyboard_resumes_and_changes_an_answer(source, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    from cxrgen_bench.reader.serve import BackgroundServer

    study = tmp_path / "study"
    make_study(source, study, realism=3, alignment=3, size=256, prompts=hostile_prompts(source, tmp_path / "p.csv"))
    shots = Path(os.environ.get("CXRGEN_READER_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    problems = []
    with BackgroundServer(study) as server, playwright.sync_playwright() as p:
        found = server.links()
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        context = browser.new_context(viewport={"width": 1200, "height": 760}, accept_downloads=True)
        page = context.new_page()
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(found["readers"]["r1"])
        assert page.locator("#counter").inner_text() == "Item 1 of 6"
        page.keyboard.press("5")
        page.keyboard.press("ArrowLeft")  # 5 → 4
        page.keyboard.press("+")  # zoom in, brighter window: the view tools answer the keyboard too
        page.keyboard.press("[")
        assert "scale(1.25)" in page.locator(".frame img").first.get_attribute("style")
        page.screenshot(path=str(shots / "reader-realism.png"))
        page.keyboard.press("Enter")
        page.wait_for_url("**/item/2")
        page.keyboard.press("1")
        page.keyboard.press("c")
        page.keyboard.type(f"streaks {SCRIPT}")
        page.keyboard.press("Escape")
        page.keyboard.press("Enter")
        page.wait_for_url("**/item/3")
        # the browser closes; the link brings the reader back exactly where they stopped
        context.close()
        context = browser.new_context(viewport={"width": 1200, "height": 760}, accept_downloads=True)
        page = context.new_page()
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("dialog", lambda d: (problems.append(d.message), d.dismiss()))
        page.goto(found["readers"]["r1"])
        page.wait_for_url("**/item/3")
        page.reload()
        assert page.locator("#counter").inner_text() == "Item 3 of 6"
        # back to item 2: its answer and comment are there; change it
        page.keyboard.press("Backspace")
        page.wait_for_url("**/item/2")
        assert page.locator("input[name=choice][value='-2']").is_checked()
        assert page.locator("textarea").input_value() == f"streaks {SCRIPT}"
        page.keyboard.press("3")
        page.keyboard.press("Enter")
        page.wait_for_url("**/item/3")
        for key, then in (("2", 4), ("4", 5), ("5", 6)):  # the rest of realism, then alignment
            page.keyboard.press(key)
            page.keyboard.press("Enter")
            page.wait_for_url(f"**/item/{then}")
        assert page.locator("#counter").inner_text() == "Item 6 of 6"
        assert SCRIPT in page.locator("#prompt").inner_text()  # shown as text ...
        assert page.locator("script").count() == 1  # ... never run: the page's own script is the only one
        page.screenshot(path=str(shots / "reader-alignment.png"))
        # the admin sees the progress and exports the answers
        admin = context.new_page()
        admin.goto(found["admin"])
        assert "5 / 6" in admin.locator("table").inner_text()
        admin.screenshot(path=str(shots / "reader-admin.png"))
        with admin.expect_download() as download:
            admin.locator("#export").click()
        exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        browser.close()
    assert problems == []  # no script error, no CSP violation, no dialog from a prompt or comment
    answers = stored(study)
    assert answers[("r1", 1)][0] == 1 and answers[("r1", 2)] == (0, f"streaks {SCRIPT}", 2)
    assert [int(r["position"]) for r in exported] == [1, 2, 3, 4, 5]
    assert exported[1]["choice"] == "0" and exported[1]["revisions"] == "2"
    conn = sqlite3.connect(study / "study.db")
    seconds = [s for (s,) in conn.execute("SELECT seconds FROM answers")]
    conn.close()
    assert all(0 < s < 60 for s in seconds)  # time on each item, counted by the page
    for shot in shots.glob("reader-*.png"):
        from PIL import Image

        with Image.open(shot) as img:  # small enough to commit: a 32-colour palette
            img.convert("RGB").quantize(32).save(shot, optimize=True)


# --- analysis: known answers, formulas, results ------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(source, tmp_path_factory):
    from cxrgen_bench.reader import demo_study

    started = time.perf_counter()
    out = demo_study(tmp_path_factory.mktemp("reader-demo") / "demo",
                     {"real": source["real"], **{g: source[g] for g in GENERATORS}}, source["prompts"],
                     realism_pairs=8, alignment_items=10, bootstrap=200)
    out["seconds"] = time.perf_counter() - started
    return out


def test_demo_study_shows_the_known_answers(demo):
    r = {g: demo["results"][g]["metrics"] for g in GENERATORS}
    print(demo["summary"], f"\ndemo_study: {demo['seconds']:.1f} s", demo["timings"])
    assert demo["answers"] == {"r1": 54, "r2": 54}
    # realism: the degraded stand-in is told from the real images, the faithful one is not
    assert r["phantom-degraded"]["reader_realism[pooled]"]["value"] == 1.5
    assert r["phantom-degraded"]["reader_lean_real[r1]"]["value"] == 1.0
    assert abs(r["phantom-faithful"]["reader_realism[pooled]"]["value"]) < 0.6
    assert r["phantom-faithful"]["reader_realism[pooled]"]["ci95"][1] < \
        r["phantom-degraded"]["reader_realism[pooled]"]["ci95"][0]
    # alignment: the reader who reads sides marks the flipped findings down
    flips, faithful = r["phantom-flips-laterality"], r["phantom-faithful"]
    assert flips["reader_alignment[r2]"]["value"] < faithful["reader_alignment[r2]"]["value"] - 0.5
    assert flips["reader_alignment[pooled]"]["value"] < faithful["reader_alignment[pooled]"]["value"]
    assert flips["reader_alignment[r1]"]["value"] == pytest.approx(faithful["reader_alignment[r1]"]["value"], abs=0.5)
    whole = faithful["reader_kappa[realism]"]["details"]["whole_study"]
    assert whole["items"] == 24 and whole["value"] > 0.2
    assert "κ (quadratic)" in demo["summary"] and "difference 0 B" in demo["summary"]
    assert demo["seconds"] < 30


def test_results_validate_compare_pairs_them_and_the_board_shows_them_beside_the_paper(demo, tmp_path):
    from cxrgen_bench.compare import compare
    from cxrgen_bench.leaderboard.render import build
    from cxrgen_bench.leaderboard.reported import load_reported
    from cxrgen_bench.results.store import read_result

    results = {g: read_result(p) for g, p in demo["paths"].items()}
    for result in results.values():
        assert result["subject"]["kind"] == "study" and result["subject"]["study"] == "reader-study"
        assert result["status"] == "complete" and result["profile"]["name"] == "calibration-phantom"
        entry = result["metrics"]["reader_realism[pooled]"]
        assert entry["n"] == {"requested": 8, "effective": 8} and entry["bootstrap"]["resamples"] == 200
    rows = {c.key: c for c in compare(results["phantom-faithful"], results["phantom-flips-laterality"])}
    assert rows["reader_alignment[r2]"].paired and rows["reader_alignment[r2]"].ci95[1] < 0
    assert rows["reader_realism[pooled]"].paired
    reported = load_reported(Path(__file__).resolve().parents[1] / "leaderboard" / "reported" /
                             "roentgen2022-reader.yaml")
    assert reported[0]["metrics"]["reader_realism[r1]"]["value"] == 1.67
    assert reported[0]["metrics"]["reader_alignment[r2]"]["std"] == 1.36
    entries = [{**r, "name": f"reader-{g}"} for g, r in results.items()] + \
        [{**e, "name": "reported-reader"} for e in reported]
    md = build(entries, tmp_path / "board")["README.md"].read_text()
    assert "## Reader study" in md and "1.670 ± 0.630" in md and "phantom-degraded" in md


def test_analysis_formulas_on_hand_written_answers(source, tmp_path):
    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    from cxrgen_bench.reader.analysis import analyse
    from cxrgen_bench.reader.db import StudyDB, owner_connection
    from cxrgen_bench.reader.scales import toward_real

    study = tmp_path / "study"
    make_study(source, study, generators=("phantom-faithful", "phantom-degraded"), realism=5, alignment=5,
               readers=("a", "b", "c"))
    db = StudyDB(study)
    rng = np.random.default_rng(3)
    for reader in db.readers:
        for position in range(1, db.total(reader) + 1):
            if reader.name == "c" and position % 4 == 0:
                continue  # reader c leaves some items out
            view = db.item(reader, position)
            assert db.save(reader, position, view["public_id"], int(rng.integers(-2, 3)), "", 1.0, None,
                           f"nonce{position:04d}") == "saved"
    db.close()
    results = analyse(study, out=tmp_path / "reader.json", bootstrap=100)
    assert sorted(p.name for p in tmp_path.glob("reader.*.json")) == ["reader.phantom-degraded.json",
                                                                       "reader.phantom-faithful.json"]
    with owner_connection(study) as conn:
        rows = conn.execute(
            "SELECT r.name, k.generator, i.task, k.unit, a.swap, k.real_image, ans.choice FROM answers ans "
            "JOIN assignments a ON a.id = ans.assignment_id JOIN readers r ON r.id = a.reader_id "
            "JOIN items i ON i.id = a.item_id JOIN answer_key k ON k.item_id = i.id").fetchall()
    for gen in ("phantom-faithful", "phantom-degraded"):
        m = results[gen]["metrics"]
        for task in ("realism", "alignment"):
            mine = [r for r in rows if r[1] == gen and r[2] == task]
            units = sorted({r[3] for r in mine})
            value = {(r[0], r[3]): (r[6] if task == "alignment" else toward_real(r[6], (r[5] == "b") != bool(r[4])))
                     for r in mine}
            table = np.array([[value.get((who, u), np.nan) for u in units] for who in "abc"])
            for i, who in enumerate("abc"):
                x = table[i][np.isfinite(table[i])]
                entry = m[f"reader_{task}[{who}]"]
                assert entry["value"] == pytest.approx(x.mean()) and entry["std"] == pytest.approx(x.std(ddof=1))
                assert entry["n"] == {"requested": 5, "effective": len(x)}
            pooled = m[f"reader_{task}[pooled]"]
            assert pooled["value"] == pytest.approx(np.nanmean(table))
            assert pooled["ci95"][0] <= pooled["value"] <= pooled["ci95"][1]
            pairs = [cohen_kappa_score(table[i][np.isfinite(table[i]) & np.isfinite(table[j])],
                                       table[j][np.isfinite(table[i]) & np.isfinite(table[j])],
                                       weights="quadratic", labels=[-2, -1, 0, 1, 2])
                     for i in range(3) for j in range(i + 1, 3)]
            assert m[f"reader_kappa[{task}]"]["value"] == pytest.approx(np.mean(pairs))
            assert m[f"reader_alpha[{task}]"]["value"] == pytest.approx(
                krippendorff.alpha(reliability_data=table, level_of_measurement="ordinal"))
            if task == "realism":
                lean = np.where(np.isfinite(table), table > 0, np.nan)
                assert m["reader_lean_real[pooled]"]["value"] == pytest.approx(np.nanmean(lean))
    assert any(results[g]["metrics"]["reader_alignment[c]"].get("warnings") or
               results[g]["metrics"]["reader_realism[c]"].get("warnings") for g in results)  # said, not hidden
    # the two generators' entries resample the same units with the same seed: paired
    a, b = (results[g]["metrics"]["reader_alignment[pooled]"]["bootstrap"] for g in ("phantom-faithful",
                                                                                        "phantom-degraded"))
    assert a["units_sha256"] == b["units_sha256"] and a["seed"] == b["seed"]


def test_cli_create_status_export_analyse_and_cards(source, tmp_path, capsys):
    from cxrgen_bench.cli import main
    from cxrgen_bench.evaluation.subjects import StudySubject
    from cxrgen_bench.reader.db import StudyDB
    from cxrgen_bench.registry import METRICS, card_for

    study = tmp_path / "study"
    assert main(["reader-study", "create", "--generated", f"faithful={source['phantom-faithful']}", "--real",
                 str(source["real"]), "--prompts", str(source["prompts"]), "--realism-pairs", "2",
                 "--alignment-items", "2", "--readers", "r1,r2", "--seed", "0", "--size", "64", "--out",
                 str(study)]) == 0
    assert "readers.csv" in capsys.readouterr().out
    assert main(["reader-study", "create", "--generated", str(source["phantom-faithful"]), "--prompts",
                 str(source["prompts"]), "--realism-pairs", "0", "--alignment-items", "2", "--out", str(study)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    db = StudyDB(study)
    for reader in db.readers:
        for k in range(1, 5):
            db.save(reader, k, db.item(reader, k)["public_id"], (k % 5) - 2, "", 2.0, None, f"n{k:07d}")
    db.close()
    assert main(["reader-study", "status", str(study)]) == 0
    assert "8 of 8 answers" in capsys.readouterr().out
    assert main(["reader-study", "export", str(study), "--out", str(tmp_path / "answers.csv")]) == 0
    with open(tmp_path / "answers.csv", newline="") as f:
        exported = list(csv.DictReader(f))
    assert len(exported) == 8 and {r["generator"] for r in exported} == {"faithful"} and "rating" in exported[0]
    assert main(["reader-study", "analyse", str(study), "--out", str(tmp_path / "reader.json"), "--bootstrap",
                 "50"]) == 0
    out = capsys.readouterr().out
    assert "faithful:" in out and "leaderboard add" in out and (tmp_path / "reader.json").is_file()
    # the cards: in the Reader study sections (ratings, agreement), refused by `score` with the right command
    for name in ("reader_realism", "reader_lean_real", "reader_alignment", "reader_kappa", "reader_alpha"):
        assert METRICS.get(name).card.board_section.title.startswith("Reader study")
    assert card_for("reader_realism[pooled]").direction == "lower"
    assert card_for("reader_alignment[r1]").direction == "higher"
    with pytest.raises(Exception, match="reader-study analyse"):
        METRICS.get("reader_realism")({}, []).compute(None)
    from cxrgen_bench.data.manifest import ImageSet
    from cxrgen_bench.evaluation.subjects import ImageSetSubject

    message = ImageSetSubject(ImageSet.from_folder(source["phantom-faithful"])).missing_for(
        "reader_realism", METRICS.get("reader_realism").card.requires)
    assert "reader-study" in message
    assert StudySubject("reader-study").describe()["kind"] == "study"


# --- analyse --out FILE writes FILE; an incomplete study names each reader's progress (issue 38) -------------------

def _answer(study: Path, positions: dict[str, range]) -> None:
    """Each reader rates the items at ``positions[reader]`` (1-based; realism items come first in every order)."""
    from cxrgen_bench.reader.db import StudyDB

    db = StudyDB(study)
    for reader in db.readers:
        for position in positions.get(reader.name, ()):
            assert db.save(reader, position, db.item(reader, position)["public_id"], (position % 5) - 2, "", 1.0, None,
                           f"n{position:07d}") == "saved"
    db.close()


def test_analyse_out_writes_exactly_that_file_and_per_generator_files_only_when_asked(source, tmp_path, capsys):
    """Before: `--out reader.json` on a study of two generators wrote reader.GEN.json files and no reader.json."""
    from cxrgen_bench.cli import main
    from cxrgen_bench.compare import compare
    from cxrgen_bench.results.store import read_result, validate

    study = tmp_path / "study"
    make_study(source, study, generators=("phantom-faithful", "phantom-degraded"), realism=2, alignment=2)
    _answer(study, {"r1": range(1, 9), "r2": range(1, 9)})
    out = tmp_path / "out" / "reader.json"
    assert main(["reader-study", "analyse", str(study), "--out", str(out), "--bootstrap", "20"]) == 0
    printed = capsys.readouterr()
    assert sorted(p.name for p in out.parent.iterdir()) == ["reader.json"]  # that file, and only that file
    document = json.loads(out.read_text())
    assert document["kind"] == "reader-study-analysis" and document["generators"] == ["phantom-degraded", "phantom-faithful"]
    assert document["complete"] and [r["rated"] for r in document["readers"]] == [8, 8]
    for gen, result in document["results"].items():  # each generator's results object, as the schema wants it
        assert validate(result)["model"]["name"] == gen and result["status"] == "complete"
    assert f"wrote {out}" in printed.out and "--per-generator" in printed.out and "study incomplete" not in printed.err

    assert main(["reader-study", "analyse", str(study), "--out", str(out), "--bootstrap", "20", "--per-generator"]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["reader.json", "reader.phantom-degraded.json",
                                                            "reader.phantom-faithful.json"]
    a, b = (read_result(out.parent / f"reader.{g}.json") for g in ("phantom-faithful", "phantom-degraded"))
    assert any(row.paired for row in compare(a, b)) and "cxrgen-bench compare" in capsys.readouterr().out

    single = tmp_path / "single"  # one generator: FILE is its results object, which the board reads
    make_study(source, single, realism=2, alignment=2)
    _answer(single, {"r1": range(1, 5), "r2": range(1, 5)})
    assert main(["reader-study", "analyse", str(single), "--out", str(tmp_path / "one.json"), "--bootstrap", "0",
                 "--per-generator"]) == 0
    assert read_result(tmp_path / "one.json")["model"]["name"] == "phantom-faithful"
    assert not list(tmp_path.glob("one.*.json"))


def test_an_incomplete_study_names_each_readers_progress(source, tmp_path, capsys):
    """Before: exit 1 with one reader half done, saying neither which reader nor how much is left."""
    from cxrgen_bench.cli import main

    study = tmp_path / "study"
    make_study(source, study, generators=("phantom-faithful", "phantom-degraded"), realism=3, alignment=3,
               readers=("r1", "r2", "r3"))
    _answer(study, {"r1": range(1, 13), "r2": range(1, 6)})  # r2: realism half done, no alignment; r3: none
    out = tmp_path / "reader.json"
    assert main(["reader-study", "analyse", str(study), "--out", str(out), "--bootstrap", "0"]) == 1
    err = capsys.readouterr().err
    assert ("study incomplete: reader r1: 12 of 12 rated; reader r2: 5 of 12 rated (realism 5 of 6, alignment 0 of "
            "6); reader r3: 0 of 12 rated (realism 0 of 6, alignment 0 of 6); 19 ratings left") in err
    assert "partial" in err and f"reader-study status {study}" in err
    assert json.loads(out.read_text())["complete"] is False  # written all the same, saying so
    assert main(["reader-study", "analyse", str(study), "--out", str(out), "--bootstrap", "0", "--json"]) == 1
    assert "reader r2: 5 of 12 rated" in capsys.readouterr().err  # said with --json too, beside the JSON
    _answer(study, {"r2": range(6, 13), "r3": range(1, 13)})
    from cxrgen_bench.reader.analysis import describe_progress, reader_progress

    assert describe_progress(reader_progress(study)) is None
    assert main(["reader-study", "analyse", str(study), "--out", str(out), "--bootstrap", "0"]) == 0
    assert "study incomplete" not in capsys.readouterr().err
