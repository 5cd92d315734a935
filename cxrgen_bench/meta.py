"""Meta-evaluation: which fidelity/diversity metric to trust, measured (`cxrgen-bench meta`, and a
section of the demo).

Three views, each a table (and the corruption curves a figure):
1. Known answers: on the calibration benchmark, each metric key's agreement with the pairs whose order
   is known (faithful better than degraded, than flips-laterality, than ignores-prompt) as Kendall's τ
   over those pairs, with a CI from the runs' paired bootstrap replicates (same prompts, same seed).
2. Graded corruptions of held-out images (blur, noise, JPEG, contrast loss, horizontal flips and, on
   phantoms, removed findings) at increasing severity, scored against the uncorrupted other half:
   Spearman's ρ of the metric's "worse" direction with severity (1: strictly worse with every step),
   and the change at the highest severity in units of the metric's own spread at severity 0 (from
   resampling the generated half): how visible that corruption is to the metric.
3. Sample size: each metric on random subsets of n generated images against the full reference: its
   mean (bias against the largest n) and spread, i.e. how many images a claimed difference needs.
The metrics are computed by the functional API on features of one registered backbone.

Views 2 and 3 also run on a folder of real radiographs (`images=`, `cxrgen-bench meta --images`):
sorted files alternate between the reference and the held-out half, and every corruption but
"findings" applies; the backbones are those of a real profile (roentgen2022) with their real weights.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .functional import cmmd, kid, prdc
from .functional.kernel_distances import unit_rows
from .functional.frechet import FeatureStats, ReferenceRoot, frechet_infinity, frechet_replicates
from .results.entry import ResultView

KNOWN_PAIRS = (("phantom-faithful", "phantom-degraded"), ("phantom-faithful", "phantom-ignores-prompt"),
               ("phantom-faithful", "phantom-flips-laterality"))
SEVERITIES = {  # severity 0 is always the uncorrupted image
    "blur": (0.0, 1.0, 2.0, 4.0),            # Gaussian σ in pixels at 128²
    "noise": (0.0, 0.03, 0.06, 0.12),        # Gaussian noise std (intensity in [0, 1])
    "jpeg": (0, 30, 60, 90),                 # 100 − JPEG quality (0: not compressed)
    "contrast": (0.0, 0.2, 0.4, 0.6),        # 1 − contrast factor about the mean
    "flip": (0.0, 0.25, 0.5, 1.0),           # share of images flipped left–right (laterality)
    "findings": (0.0, 0.25, 0.5, 1.0),       # share of phantoms rendered without their findings
}


@dataclass(frozen=True)
class FeatureMetric:
    name: str
    direction: str
    fn: Callable[[np.ndarray, np.ndarray], float]  # (generated, reference) features → value


def feature_metrics(k: int = 5) -> list[FeatureMetric]:
    """The distribution metrics of the suite as functions of (generated, reference) features. The views
    hold one reference fixed and score many generated sets: its square root is computed once per
    reference array (the bootstrap machinery of `fid`), so d = 2,048 costs one eigendecomposition."""
    roots: dict[int, tuple[np.ndarray, ReferenceRoot]] = {}

    def reference_stats(r):
        if id(r) not in roots:
            roots[id(r)] = (r, ReferenceRoot.of(FeatureStats.from_features(r)))  # r kept alive: its id stays unique
        return roots[id(r)][1]

    def fd(g, r):
        return float(frechet_replicates(g, reference_stats(r))(np.ones((1, len(g))))[0])

    def fd_inf(g, r):
        return frechet_infinity(g, reference_stats(r), points=5)["value"]

    def pr(measure):
        return lambda g, r: prdc(r, g, k)[measure]

    return [FeatureMetric("fid", "lower", fd),
            FeatureMetric("fd_infinity", "lower", fd_inf),
            FeatureMetric("kid", "lower", lambda g, r: kid(g, r, subset_size=1000, subsets=20)[0]),
            FeatureMetric("cmmd", "lower", lambda g, r: cmmd(unit_rows(g), unit_rows(r))),
            FeatureMetric("prdc_precision", "higher", pr("precision")),
            FeatureMetric("prdc_recall", "higher", pr("recall")),
            FeatureMetric("prdc_density", "higher", pr("density")),
            FeatureMetric("prdc_coverage", "higher", pr("coverage"))]


# --- 1. known answers ----------------------------------------------------------------------------
def known_answer_agreement(results: dict[str, dict[str, Any]], pairs: Sequence[tuple[str, str]] = KNOWN_PAIRS
                           ) -> list[dict[str, Any]]:
    """Per metric key present in every run: Kendall's τ over the known (better, worse) pairs, and its 95%
    CI from the paired bootstrap replicates when every run has them."""
    from .registry import find_card

    names = {n for p in pairs for n in p}
    if not names <= set(results):
        raise ValueError(f"known-answer agreement needs the runs {sorted(names - set(results))}")
    # MS-SSIM answers another question (diversity within a prompt): the pairs say nothing about it
    views = {n: ResultView.of(results[n]).entries for n in names}
    keys = sorted(k for k in set.intersection(*(set(views[n]) for n in names)) if not k.startswith("ms_ssim"))
    rows = []
    for key in keys:
        card = find_card(key)
        entries = {n: views[n][key] for n in names}
        if card is None or any(e.value is None for e in entries.values()):
            continue
        sign = -1.0 if card.direction == "lower" else 1.0

        def tau(values: dict[str, np.ndarray]) -> np.ndarray:
            return np.mean([np.sign(sign * (values[b] - values[w])) for b, w in pairs], axis=0)

        point = float(tau({n: np.float64(e.value) for n, e in entries.items()}))
        ci = None
        reps = {n: e.bootstrap.replicates if e.bootstrap else None for n, e in entries.items()}
        # paired only when every run resampled the same units with the same seed and count
        paired = len({(e.bootstrap.units_sha256, e.bootstrap.seed, len(e.bootstrap.replicates)) if e.bootstrap
                       else (None, None, 0) for e in entries.values()}) == 1
        if all(r is not None for r in reps.values()) and paired:
            taus = tau({n: np.asarray([np.nan if v is None else v for v in r], dtype=np.float64)
                        for n, r in reps.items()})
            taus = taus[np.isfinite(taus)]
            ci = [float(np.percentile(taus, 2.5)), float(np.percentile(taus, 97.5))] if len(taus) else None
        rows.append({"key": key, "direction": card.direction, "tau": point, "ci95": ci,
                     "values": {n: entries[n].value for n in sorted(names)}})
    return rows


# --- 2. graded corruptions -----------------------------------------------------------------------
def corrupt(images: list[np.ndarray], kind: str, severity: float, seed: int = 0,
            plain: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Canonical images (float32 (H, W) in [0, 1]) under one corruption; `plain`: the same images
    without findings (phantoms), for "findings"."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    if severity == 0:
        return list(images)
    out = []
    for i, img in enumerate(images):
        if kind == "blur":
            from scipy.ndimage import gaussian_filter

            out.append(gaussian_filter(img.astype(np.float32), severity * img.shape[0] / 128, mode="nearest"))
        elif kind == "noise":
            out.append(np.clip(img + rng.normal(0, severity, img.shape), 0, 1).astype(np.float32))
        elif kind == "jpeg":
            buf = io.BytesIO()
            Image.fromarray(np.rint(img * 255).astype(np.uint8)).save(buf, format="JPEG", quality=int(100 - severity))
            out.append(np.asarray(Image.open(buf), dtype=np.float32) / 255)
        elif kind == "contrast":
            out.append((img.mean() + (1 - severity) * (img - img.mean())).astype(np.float32))
        elif kind == "flip":
            out.append(img[:, ::-1].copy() if i < round(severity * len(images)) else img)
        elif kind == "findings":
            if plain is None:
                raise ValueError("the findings corruption needs the images without findings")
            out.append(plain[i] if i < round(severity * len(images)) else img)
        else:
            raise ValueError(f"unknown corruption {kind!r}; known: {', '.join(SEVERITIES)}")
    return out


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    import warnings

    from scipy.stats import spearmanr

    with warnings.catch_warnings():  # a metric that does not move at all: ρ undefined, reported as 0
        warnings.simplefilter("ignore")
        rho = spearmanr(x, y).statistic
    return float(rho) if np.isfinite(rho) else 0.0


def corruption_curves(embed: Callable[[list[np.ndarray]], np.ndarray], reference: list[np.ndarray],
                      held_out: list[np.ndarray], kinds: Sequence[str], metrics: list[FeatureMetric],
                      plain: list[np.ndarray] | None = None, resamples: int = 20, seed: int = 0
                      ) -> list[dict[str, Any]]:
    """Per corruption × metric: values over severity, Spearman ρ of "worse" with severity, and the change
    at the top severity over the metric's resampling spread at severity 0."""
    ref = embed(reference)
    rng = np.random.default_rng(seed)
    rows = []
    for kind in kinds:
        feats = [embed(corrupt(held_out, kind, s, seed, plain)) for s in SEVERITIES[kind]]
        for m in metrics:
            values = [m.fn(f, ref) for f in feats]
            boots = [m.fn(feats[0][rng.integers(0, len(feats[0]), len(feats[0]))], ref) for _ in range(resamples)]
            spread = float(np.std(boots)) or float("nan")
            worse = [v if m.direction == "lower" else -v for v in values]
            rows.append({"corruption": kind, "metric": m.name, "severities": list(SEVERITIES[kind]), "values": values,
                         "rho": _spearman(SEVERITIES[kind], worse),
                         "sensitivity": (worse[-1] - worse[0]) / spread if spread == spread else None})
    return rows


# --- 3. sample size -------------------------------------------------------------------------------
def sample_size_curves(generated: np.ndarray, reference: np.ndarray, sizes: Sequence[int],
                       metrics: list[FeatureMetric], draws: int = 10, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    rows = []
    for m in metrics:
        means, stds = [], []
        for n in sizes:
            vals = [m.fn(generated[rng.choice(len(generated), n, replace=False)], reference) for _ in range(draws)]
            means.append(float(np.mean(vals)))
            stds.append(float(np.std(vals)))
        rows.append({"metric": m.name, "sizes": list(sizes), "mean": means, "std": stds,
                     "bias_at_smallest": means[0] - means[-1]})
    return rows


# --- the views on the calibration benchmark ------------------------------------------------------
def phantom_sets(n: int, size: int = 128, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray], list]:
    """2n phantoms from random findings (reference: the first n; held out: the others) and the held-out
    ones rendered without findings (same seeds)."""
    from .calibration.phantom import Findings, random_findings, render

    rng = np.random.default_rng(seed)
    findings = [random_findings(rng) for _ in range(2 * n)]
    images = [render(f, seed * 100_000 + i, size) for i, f in enumerate(findings)]
    plain = [render(Findings(view=f.view), seed * 100_000 + n + i, size) for i, f in enumerate(findings[n:])]
    return images[:n], images[n:], plain


def backbone_embedder(name: str, profile: Any, weights: str | None = None) -> Callable[[list[np.ndarray]], np.ndarray]:
    from .models.image import build_backbone

    cfg = profile.backbone(name)
    net = build_backbone(name, cfg, weights=weights, allow_pickle=False)

    def embed(images: list[np.ndarray]) -> np.ndarray:
        out = []
        for s in range(0, len(images), 32):
            out.append(net.features([net.preprocess(i, cfg["preprocessing"]) for i in images[s:s + 32]], cfg["layer"]))
        return np.concatenate(out).astype(np.float64)

    return embed


def real_sets(folder: str | Path, n: int) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Real radiographs of a folder: sorted files alternate between reference and held out (at most n
    each), so both halves draw from the whole folder."""
    from .data.images import IMAGE_SUFFIXES, read_image
    from .errors import InputError

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if Path(folder).is_dir() else []
    if len(files) < 8:
        raise InputError(f"{folder}: the meta-evaluation needs at least 8 radiographs (4 per half), found {len(files)}")
    reference, held_out = files[0::2][:n], files[1::2][:n]
    return ([read_image(p).pixels for p in reference], [read_image(p).pixels for p in held_out],
            [p.name for p in reference + held_out])


def run(out: str | Path, results: dict[str, dict[str, Any]] | None = None, n: int = 96,
        backbones: Sequence[str] = ("phantom-evaluator",), log: Callable[[str], None] = print,
        images: str | Path | None = None, profile: str = "calibration-phantom",
        weights: dict[str, str] | None = None) -> dict[str, Any]:
    """All views on phantoms, or on the real radiographs of `images` (with `profile`'s backbones and
    `weights`), and the known answers of a demo's runs when given; writes meta.json and meta.md into `out`."""
    import json

    from .profiles import get_profile

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = get_profile(profile)
    metrics = feature_metrics()
    if images is not None:
        reference, held_out, names = real_sets(images, n)
        plain, kinds, what = None, [k for k in SEVERITIES if k != "findings"], "real radiographs"
    else:
        reference, held_out, plain = phantom_sets(n)
        kinds, what, names = list(SEVERITIES), "phantoms", []
    n = len(held_out)
    report: dict[str, Any] = {"n": n, "backbones": list(backbones), "images": what, "profile": config.describe(),
                              **({"source": str(images), "files": names} if images is not None else {})}
    if results:
        report["known_answers"] = known_answer_agreement(results)
    for name in backbones:
        embed = backbone_embedder(name, config, (weights or {}).get(name))
        log(f"meta: corruption curves on {name} ({len(reference)} reference vs {n} held-out {what})")
        report.setdefault("corruptions", {})[name] = corruption_curves(embed, reference, held_out, kinds,
                                                                      metrics, plain=plain)
        sizes = sorted({s for s in (8, 16, 32, 64, n) if s <= n})
        if len(sizes) < 2 and n > 6:  # a small folder: PRDC's k = 5 needs at least 6 per subset
            sizes = [6, n]
        report.setdefault("sample_size", {})[name] = sample_size_curves(embed(held_out), embed(reference), sizes,
                                                                        metrics)
    (out / "meta.json").write_text(json.dumps(report, indent=1))
    (out / "meta.md").write_text(markdown(report))
    return report


CORRUPTION_CELL = "Spearman ρ with severity / change at the top severity in spreads at severity 0"


def corruption_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The corruption view as a table: a row per metric, a cell per corruption (see `CORRUPTION_CELL`);
    the meta report and the leaderboard both print it."""
    kinds = list(dict.fromkeys(r["corruption"] for r in rows))
    body = []
    for metric in dict.fromkeys(r["metric"] for r in rows):
        cells = [metric]
        for kind in kinds:
            r = next(x for x in rows if x["metric"] == metric and x["corruption"] == kind)
            sens = "—" if r["sensitivity"] is None else f"{r['sensitivity']:+.1f}"
            cells.append(f"{r['rho']:+.2f} / {sens}")
        body.append(cells)
    return ["metric", *kinds], body


def verdicts(report: dict[str, Any], rho: float = 0.9, spreads: float = 3.0) -> list[str]:
    """Sentences read off the measured numbers: which metric sees which corruption (ρ ≥ `rho` and a change
    of at least `spreads` spreads), which agree with every known answer, which are safe at small n."""
    out = []
    for name, rows in report.get("corruptions", {}).items():
        for kind in dict.fromkeys(r["corruption"] for r in rows):
            seen = [r["metric"] for r in rows if r["corruption"] == kind and r["rho"] >= rho
                    and (r["sensitivity"] or 0) >= spreads]
            out.append(f"{kind} on {name}: " + (", ".join(seen) + " respond" if seen else "no metric responds")
                       + f" monotonically and by ≥ {spreads:g} spreads")
    known = report.get("known_answers") or []
    if known:
        sure = [r["key"] for r in known if r["tau"] == 1.0 and r["ci95"] and r["ci95"][0] > 0]
        out.append("all known answers, CI above 0: " + (", ".join(sure) if sure else "none"))
    for name, rows in report.get("sample_size", {}).items():
        steady = [r["metric"] for r in rows if abs(r["bias_at_smallest"]) <= 2 * max(r["std"][0], 1e-12)]
        out.append(f"bias at n = {rows[0]['sizes'][0]} within two spreads on {name}: "
                   + (", ".join(steady) if steady else "none"))
    return out


def markdown(report: dict[str, Any]) -> str:
    if report.get("images") == "real radiographs":
        head = ["# Which metric to trust: measured on real radiographs", "",
                f"Regenerated by `cxrgen-bench meta --images {report.get('source')}`; {report['n']} held-out real "
                f"radiographs against {report['n']} others, profile {report['profile']['name']} "
                f"v{report['profile']['version']} (cxrgen_bench/meta.py says how each view is built).", ""]
    else:
        head = ["# Which metric to trust: measured on the calibration benchmark", "",
                "Regenerated by `cxrgen-bench meta`; numbers from phantom radiographs with known answers "
                "(cxrgen_bench/meta.py says how each view is built).", ""]
    lines = head + ["## Read off the numbers", ""]
    lines += [f"- {v}" for v in verdicts(report)] + [""]
    if report.get("known_answers"):
        lines += ["## Known answers (Kendall's τ over faithful ≻ degraded, ≻ ignores-prompt, ≻ flips-laterality)", "",
                  "| metric | τ | 95% CI |", "|---|---|---|"]
        for r in report["known_answers"]:
            ci = f"[{r['ci95'][0]:+.2f}, {r['ci95'][1]:+.2f}]" if r["ci95"] else "—"
            lines.append(f"| {r['key']} | {r['tau']:+.2f} | {ci} |")
        lines.append("")
    for name, rows in report.get("corruptions", {}).items():
        header, body = corruption_table(rows)
        lines += [f"## Graded corruptions on {name}: {CORRUPTION_CELL}", "", "| " + " | ".join(header) + " |",
                  "|---|" + "---|" * (len(header) - 1)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body] + [""]
    for name, rows in report.get("sample_size", {}).items():
        sizes = rows[0]["sizes"]
        lines += [f"## Sample size on {name}: mean ± std over random subsets of n generated images", "",
                  "| metric | " + " | ".join(f"n = {s}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
        for r in rows:
            lines.append(f"| {r['metric']} | " + " | ".join(f"{m:.3g} ± {s:.2g}" for m, s in zip(r["mean"], r["std"]))
                         + " |")
        lines.append("")
    return "\n".join(lines)
