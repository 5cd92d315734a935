"""Simulated readers of known behaviour, and `demo_study`: a small reader study of phantom stand-ins,
created, served on a free localhost port, answered over real HTTP by two simulated readers at once,
analysed. The readers look only at what a radiologist gets (the item's page data, the images by their
random names), never at the key:

- ``sees-degradation``: measures each image's fine-detail energy (mean |Laplacian|); when one image of a
  pair has clearly more (the noise and blur of phantom-degraded) it rates the other "much more
  realistic"; otherwise it cannot tell and leans to a side at random (±1, seeded by the pixels). For
  alignment it checks that the prompt's findings are present, on either side (the phantom evaluator).
- ``reads-sides``: notices degradation too, less sure of itself (±1; 0 when it cannot tell), and for
  alignment also reads the side of each lateralised finding the prompt places on one side: a finding
  on the wrong side makes the item "does not show all of the findings" (−1), all of them −2.

Known answers: realism of phantom-degraded well above phantom-faithful's (near 0); alignment of
phantom-flips-laterality below phantom-faithful's; the readers agree on realism (κ printed).
"""
from __future__ import annotations

import hashlib
import http.client
import io
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlencode, urlsplit

import numpy as np

from ..errors import InputError

DEGRADED_RATIO = 1.3  # fine-detail energy of one image over the other's beyond which a pair "looks degraded"
MARKER = ".cxrgen-reader-demo"
PRESENT = 0.5  # evaluator probability above which a finding is seen


class Client:
    """One keep-alive HTTP connection, as a browser tab would use (reconnects when the server closed it)."""

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                accept: str = "application/json") -> tuple[int, dict[str, str], bytes]:
        headers = {"Accept": accept}
        data = None
        if body is not None:
            data = urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def detail_energy(pixels: np.ndarray) -> float:
    """Mean absolute Laplacian: noise and fine texture (blur lowers it, added noise raises it a lot)."""
    p = pixels.astype(np.float64)
    lap = 4 * p[1:-1, 1:-1] - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]
    return float(np.abs(lap).mean())


class _Fixed:
    """An rng stand-in for `findings_from_text`: a side the prompt leaves open gets this index."""

    def __init__(self, index: int):
        self.index = index

    def integers(self, *_: Any, **__: Any) -> int:
        return self.index


def stated_findings(text: str) -> dict[str, Any]:
    """What the prompt states: present findings, and the one side of each lateralised finding it names."""
    from ..calibration.reports import findings_from_text

    left, right = findings_from_text(text, _Fixed(0)), findings_from_text(text, _Fixed(1))
    present = {"Pleural Effusion": bool(left.effusion), "Pneumothorax": bool(left.pneumothorax),
               "Consolidation": bool(left.consolidation), "Cardiomegaly": left.cardiomegaly, "Edema": left.edema,
               "Support Devices": bool(left.devices)}
    sides = {}
    for name, a, b in (("Pleural Effusion", left.effusion, right.effusion),
                       ("Pneumothorax", left.pneumothorax, right.pneumothorax),
                       ("Consolidation", tuple(s for s, _ in left.consolidation), tuple(s for s, _ in right.consolidation))):
        if a and a == b and len(set(a)) == 1:  # the prompt names the side (else the two fallbacks differ)
            sides[name] = a[0]
    return {"present": {k for k, v in present.items() if v}, "sides": sides}


class Perception:
    """What the simulated readers see in an image, through the phantom evaluator (calibration benchmark)."""

    def __init__(self) -> None:
        from ..models.image import build_backbone
        from ..profiles import get_profile

        self.evaluator = build_backbone("phantom-evaluator",
                                        get_profile("calibration-phantom").backbone("phantom-evaluator"))
        self.lock = threading.Lock()

    def read(self, pixels: np.ndarray) -> dict[str, Any]:
        from ..calibration.phantom import CLASS_NAMES, SIDE_OUTPUTS

        batch = [self.evaluator.preprocess(pixels)]
        with self.lock:  # one forward at a time: the two readers share the model
            probs = self.evaluator.features(batch, "classifier")[0]
            sides = self.evaluator.features(batch, "sides")[0].reshape(len(SIDE_OUTPUTS), 2)
        return {"present": {n for n, p in zip(CLASS_NAMES, probs) if p > PRESENT},
                "sides": {n: ("left", "right")[int(np.argmax(sides[i]))] for i, n in enumerate(SIDE_OUTPUTS)}}


def _coverage(stated: dict[str, Any], seen: dict[str, Any]) -> int:
    want = stated["present"]
    if not want:
        return 2 if not (seen["present"] - {"Support Devices"}) else 1
    share = len(want & seen["present"]) / len(want)
    return 2 if share == 1 else 1 if share >= 0.5 else 0


def realism_choice(behaviour: str, left: np.ndarray, right: np.ndarray) -> int:
    """−2 (left much more realistic) … 2 (right much more realistic)."""
    el, er = detail_energy(left), detail_energy(right)
    sure = 2 if behaviour == "sees-degradation" else 1
    if er > DEGRADED_RATIO * el:
        return -sure  # the right one looks degraded
    if el > DEGRADED_RATIO * er:
        return sure
    if behaviour == "sees-degradation":  # cannot tell: leans to a side, the same for the same pixels
        digest = hashlib.sha256(left.tobytes() + right.tobytes()).digest()
        return -1 if digest[0] % 2 else 1
    return 0


def alignment_choice(behaviour: str, prompt: str, pixels: np.ndarray, perception: Perception) -> int:
    stated, seen = stated_findings(prompt), perception.read(pixels)
    rating = _coverage(stated, seen)
    if behaviour == "reads-sides" and stated["sides"]:
        wrong = [n for n, side in stated["sides"].items() if seen["sides"][n] != side]
        if wrong:
            rating = -2 if len(wrong) == len(stated["sides"]) else -1
    return rating


def _pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def answer_all(base_url: str, link: str, behaviour: str, perception: Perception | None,
               log: Callable[[str], None] | None = None) -> int:
    """Answer every item of the reader whose link this is, over HTTP; returns the number of answers sent."""
    client = Client(base_url)
    path = urlsplit(link).path
    sent = 0
    try:
        while True:
            status, headers, body = client.request("GET", path)
            if status in (302, 303):
                path = headers["location"]
                if path.endswith("/done"):
                    return sent
                continue
            if status != 200:
                raise RuntimeError(f"simulated reader: GET item answered {status}")
            item = json.loads(body)
            images = []
            for url in item["images"]:
                code, _, data = client.request("GET", url, accept="image/png")
                if code != 200:
                    raise RuntimeError(f"simulated reader: image answered {code}")
                images.append(_pixels(data))
            if item["task"] == "realism":
                choice = realism_choice(behaviour, images[0], images[1])
            else:
                choice = alignment_choice(behaviour, item["prompt"], images[0], perception)
            form = item["form"]
            status, _, body = client.request("POST", form["action"], {
                "csrf": form["csrf"], "item": form["item"], "nonce": form["nonce"], "served": form["served"],
                "choice": choice, "comment": "", "elapsed_ms": 1500})
            if status != 200:
                raise RuntimeError(f"simulated reader: POST answered {status}")
            sent += 1
            path = json.loads(body)["next"]
            if path.endswith("/done"):
                return sent
    finally:
        client.close()


def demo_study(out: str | Path, images: Mapping[str, str | Path], prompts: str | Path, *, realism_pairs: int = 16,
               alignment_items: int = 16, readers: Sequence[str] = ("r1", "r2"),
               behaviours: Sequence[str] = ("sees-degradation", "reads-sides"), seed: int = 0, bootstrap: int = 200,
               profile: str = "calibration-phantom", size: int = 256,
               log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """A reader study of phantom stand-ins, end to end, in ``out`` (replaced if an earlier demo made it).

    ``images``: {"real": the reference phantoms' folder, GENERATOR: its images' folder, ...}; ``prompts``: their
    prompts CSV (with CheXpert labels). Returns {"study", "results" (by generator), "paths", "summary" (text),
    "file_sizes", "timings", "answers"}."""
    from .analysis import analyse, output_paths, summary
    from .create import create_study
    from .serve import BackgroundServer

    log = log or (lambda message: None)
    out = Path(out)
    if out.exists():
        if not (out / MARKER).is_file():
            raise InputError(f"{out} exists and is not a reader-study demo folder; choose another folder")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by cxrgen_bench.reader.demo_study; replaced by the next demo\n")
    images = {k: Path(v) for k, v in images.items()}
    if "real" not in images or len(images) < 2:
        raise InputError("demo_study needs images={'real': FOLDER, GENERATOR: FOLDER, ...}")
    timings: dict[str, float] = {}
    t = time.perf_counter()
    created = create_study(out / "study", {k: v for k, v in images.items() if k != "real"}, prompts,
                           real=images["real"], realism_pairs=realism_pairs, alignment_items=alignment_items,
                           readers=readers, seed=seed, size=size)
    timings["create"] = time.perf_counter() - t
    t = time.perf_counter()
    perception = Perception()
    answers: dict[str, int] = {}
    errors: list[BaseException] = []
    with BackgroundServer(out / "study") as server:
        links = server.links()["readers"]

        def run(name: str, behaviour: str) -> None:
            try:
                answers[name] = answer_all(server.url, links[name], behaviour, perception)
            except BaseException as exc:  # noqa: BLE001 — re-raised in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n, b)) for n, b in zip(readers, behaviours)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    if errors:
        raise errors[0]
    timings["answering (HTTP)"] = time.perf_counter() - t
    t = time.perf_counter()
    results = analyse(out / "study", out=out / "reader.json", bootstrap=bootstrap, profile=profile)
    timings["analysis"] = time.perf_counter() - t
    paths = {g: str(p) for g, p in output_paths(out / "reader.json", list(results)).items()}
    sizes = created["file_sizes"]
    text = [f"reader study: {created['items']['realism']} realism pairs and {created['items']['alignment']} alignment "
            f"items per reader ({', '.join(g for g in images if g != 'real')}), answered over HTTP by "
            + ", ".join(f"{n} ({b}, {answers.get(n, 0)} answers)" for n, b in zip(readers, behaviours)),
            f"file sizes: real {sizes['real']['mean_bytes']:.0f} B, synthetic {sizes['synthetic']['mean_bytes']:.0f} B "
            f"on average (difference {sizes.get('mean_difference_bytes', 0):.0f} B: uncompressed, equal sizes)"
            if sizes["real"]["n"] and sizes["synthetic"]["n"] else "file sizes: —",
            summary(results)]
    return {"study": str(out / "study"), "results": results, "paths": paths, "summary": "\n".join(text),
            "file_sizes": sizes, "timings": timings, "answers": answers}
