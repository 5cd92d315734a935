"""Intra-prompt diversity: mean MS-SSIM over all pairs of samples of the same prompt (RoentGen
Table 2 and Fig. 3). Value = mean over prompts of the per-prompt pair mean; `std` is the standard
deviation over prompts (the paper's "±", see `std_over`), `std_pairs` the one over every pair;
`by_token_length` is Fig. 3 (bins of CLIP token length, 95% CIs). Images need at least 161 px per
side (five scales of an 11-px window).

Which images: with `samples_per_prompt: n` (roentgen2022) exactly samples 0..n−1 of every prompt, as
the official script reads `{id}_0.jpg`…`{id}_3.jpg` (a prompt lacking one is an error, extra samples
are left out and counted); with `prompts: N` the first N prompt ids in sorted order (the official
script takes the first 2,000 files of an unordered glob). Without them, every prompt with at least
`min_samples_per_prompt` samples, all its samples.

Samples of one prompt must have one size (the official script would fail otherwise): `resize: R`
brings every image to R×R first (shorter side to R with the clean bicubic rule, centre crop; recorded in
the details and a warning). Each setting can be changed for a run with `--set ms_ssim.KEY=VALUE`
(`MSSSIMSettings` below; `cxrgen-bench ls metrics ms_ssim` lists them with their defaults).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..data.images import read_image
from ..data.tokens import clip_token_lengths
from ..data.manifest import ImageRecord
from ..errors import MetricError
from ..functional.msssim import ms_ssim
from ..functional.resize import square
from ..results.entry import Entry
from ..settings import Settings, setting
from .base import Metric
from ..card import Card

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float | None, float | None]:
    """Mean and its Student-t confidence interval (None for fewer than 2 values)."""
    from scipy import stats

    mean = float(values.mean())
    if values.size < 2:
        return mean, None, None
    half = float(stats.t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class MSSSIMSettings(Settings):
    win_size: int = setting(11, "Gaussian window side", minimum=3)
    sigma: float = setting(1.5, "Gaussian window sigma", positive=True)
    weights: tuple[float, ...] = setting((0.0448, 0.2856, 0.3001, 0.2363, 0.1333), "the scale weights, finest first")
    data_range: float = setting(1.0, "value range of the images", positive=True)
    k: tuple[float, float] = setting((0.01, 0.03), "(K1, K2) of SSIM")
    precision: Literal["float64", "float32"] = setting("float64", "float64, or float32 as pytorch-msssim runs")
    grayscale: Literal["luma", "pil-L"] = setting("luma", "pil-L (8-bit luma, as the official script reads colour "
                                                          "files) or luma (unrounded)")
    alpha: Literal["composite-black", "drop"] = setting(
        "composite-black", "a file with partly transparent pixels: laid on black, or its alpha ignored (drop: PIL's "
                           "convert(\"L\"), as the official script reads files)")
    prompts: int | None = setting(None, "compare the first N prompt ids in sorted order (null: all)", minimum=1)
    samples_per_prompt: int | None = setting(None, "compare exactly samples 0..N-1 of every prompt (null: every "
                                                   "sample of each prompt with at least min_samples_per_prompt)",
                                             minimum=2)
    min_samples_per_prompt: int = setting(2, "without samples_per_prompt: prompts with fewer samples are skipped",
                                          minimum=2)
    resize: int | None = setting(None, "bring every image to R×R first (shorter side to R, centre crop; null: sizes "
                                       "must agree)", minimum=1)
    token_bin_width: int = setting(10, "bin width of the Fig. 3 breakdown by CLIP token length", minimum=1)

    def numerics(self) -> dict[str, Any]:
        """The arguments of `functional.msssim.ms_ssim`."""
        return {"win_size": self.win_size, "sigma": self.sigma, "weights": self.weights,
                "data_range": self.data_range, "k": self.k, "precision": self.precision}


class IntraPromptMSSSIM(Metric):
    card = Card(
        name="ms_ssim", version="3", direction="lower", value_range=(0.0, 1.0), label="MS-SSIM",
        summary="Mean pairwise MS-SSIM between samples of the same prompt (lower = more diverse).",
        requires=("images", "samples>=2"), section="fidelity", order=20, plot="msssim_by_tokens",
        reported="RoentGen .32 ± .09; SD 1.4 .09 ± .05 (± = std over prompts)",
        limitations="Also drops for broken, out-of-domain outputs: read it together with FID.")

    Settings = MSSSIMSettings

    def grayscale(self, path: Any) -> np.ndarray:
        """The image MS-SSIM compares: PIL's "L" of a colour file (`grayscale: pil-L`, as the official
        script reads files) or the canonical luma (`luma`, unrounded); the same on grayscale files."""
        loaded = read_image(path).under(self.settings.alpha)
        return loaded.pil_l() if self.settings.grayscale == "pil-L" else loaded.pixels

    def pair_values(self, group: list[ImageRecord], settings: dict[str, Any]) -> np.ndarray:
        import torch

        images = [self.grayscale(r.path) for r in group]
        if self.settings.resize:
            images = [square(im, self.settings.resize) for im in images]
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            listing = ", ".join(f"{r.path.name} {im.shape[1]}×{im.shape[0]}" for r, im in zip(group, images))
            raise MetricError(f"ms_ssim: samples of prompt {group[0].prompt_id} differ in size ({listing}); MS-SSIM "
                              "compares images of one size. Generate them at one size, or bring every image to one "
                              "size first with --set ms_ssim.resize=512 (shorter side to 512, centre crop; recorded)")
        # Views of the decoded images, one pair at a time: stacking the pairs copied every image
        # (n−1) times over, and with the float64 copies 8000² samples took 11 GiB per prompt.
        tensors = [torch.from_numpy(im)[None, None] for im in images]
        values = []
        for i, j in itertools.combinations(range(len(images)), 2):
            try:
                values.append(float(ms_ssim(tensors[i], tensors[j], **settings)[0]))
            except MetricError as exc:
                raise MetricError(f"prompt {group[0].prompt_id} ({group[0].path}): {exc}") from None
        return np.array(values, dtype=np.float64)

    def select(self, groups: dict[str, list[ImageRecord]], root: Any) -> tuple[dict[str, list[ImageRecord]], dict, list[str]]:
        """The prompts and samples compared, what was chosen, and warnings (see the module's docstring)."""
        warnings: list[str] = []
        exact = self.settings.samples_per_prompt
        if max(len(g) for g in groups.values()) < 2:
            raise MetricError(
                f"ms_ssim compares samples of the same prompt, but every prompt in {root} has one image "
                f"({len(groups)} prompts). Samples of a prompt are "
                "recognised by their names, {prompt_id}_{k}.png, or by a manifest.csv (prompt_id, sample_idx, path); "
                "generate several samples per prompt (the paper uses 4), or leave ms_ssim out of --metrics.")
        if exact is not None:
            n = exact
            lacking = {pid: sorted(set(range(n)) - {r.sample_idx for r in g}) for pid, g in groups.items()}
            lacking = {pid: missing for pid, missing in lacking.items() if missing}
            if lacking:
                listing = "; ".join(f"{pid} lacks sample(s) {m}" for pid, m in sorted(lacking.items())[:5])
                raise MetricError(
                    f"ms_ssim: this profile compares exactly samples 0..{n - 1} of every prompt ({{prompt_id}}_{{k}}.png "
                    f"or a manifest's sample_idx), but {len(lacking)} prompt(s) in {root} lack some: {listing}"
                    f"{' …' if len(lacking) > 5 else ''}. Generate them, or compare every sample of each prompt that "
                    "has at least 2 with --set ms_ssim.samples_per_prompt=null (recorded; not the paper's protocol)")
            usable = {pid: [r for r in g if r.sample_idx < n] for pid, g in sorted(groups.items())}
            extra = sum(len(g) for g in groups.values()) - sum(len(g) for g in usable.values())
            if extra:
                warnings.append(f"{extra} sample(s) with index ≥ {n} left out (the profile compares samples 0..{n - 1})")
        else:
            minimum = self.settings.min_samples_per_prompt
            usable = {pid: g for pid, g in sorted(groups.items()) if len(g) >= minimum}
            if not usable:
                raise MetricError(
                    f"ms_ssim needs at least {minimum} samples per prompt; every prompt in {root} has "
                    f"{max(len(g) for g in groups.values())}. Samples of a prompt are recognised by their names, "
                    "{prompt_id}_{k}.png, or by a manifest.csv (prompt_id, sample_idx, path). Generate several "
                    "samples per prompt (the paper uses 4).")
            if len(usable) < len(groups):
                warnings.append(f"{len(groups) - len(usable)} prompt(s) with fewer than {minimum} samples were skipped")
        cap, side = self.settings.prompts, self.settings.resize
        if cap is not None and len(usable) > cap:
            usable = dict(list(usable.items())[:cap])
        selection = {"prompts_available": len(groups), "prompts_used": len(usable), "prompts_cap": cap,
                     "order": "sorted prompt ids", "samples_per_prompt": exact,
                     "grayscale": self.settings.grayscale, "alpha": self.settings.alpha, "resize": side}
        if side:
            warnings.append(f"every image brought to {side}×{side} first "
                            "(shorter side, clean bicubic, centre crop): a coercion, not the paper's protocol")
        return usable, selection, warnings

    def compute(self, ctx: EvaluationContext) -> list[Entry]:
        subject = ctx.image_subject
        settings = self.settings.numerics()
        groups = subject.images.by_prompt()
        usable, selection, warnings = self.select(groups, subject.images.root)
        per_prompt, every_pair = [], []
        pairs = sum(len(g) * (len(g) - 1) // 2 for g in usable.values())
        with ctx.progress(pairs, "ms_ssim pairs", "pairs") as bar:
            for group in usable.values():
                cached = ctx.memo_arrays(
                    "ms_ssim", lambda: {"pairs": self.pair_values(group, settings)},
                    metric=self.card.name, version=self.card.version, settings=settings,
                    grayscale=selection["grayscale"], inputs=[r.sha256 for r in group],
                    **({"resize": selection["resize"]} if selection["resize"] else {}),
                    **({"alpha": selection["alpha"]} if selection["alpha"] != "composite-black" else {}))
                per_prompt.append(float(cached["pairs"].mean()))
                every_pair.extend(cached["pairs"].tolist())
                bar.update(len(group) * (len(group) - 1) // 2)
        values = np.array(per_prompt)
        details: dict[str, Any] = {"std": float(values.std(ddof=1)) if values.size > 1 else None,
                                   "std_pairs": float(np.std(every_pair, ddof=1)) if len(every_pair) > 1 else None,
                                   "std_over": "prompts (each prompt's mean over its pairs); std_pairs: over every pair",
                                   "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
                                   "selection": selection, "pairs": int(pairs)}
        texts = [subject.prompt_text(pid) for pid in usable]
        if all(texts):
            details["by_token_length"] = self.by_token_length(values, texts)  # type: ignore[arg-type]
        else:
            warnings.append("prompt texts unknown (no --prompts and no prompt column): no token-length breakdown")
        entry = self.entry("ms_ssim", float(values.mean()), len(groups), len(usable), details, std=details["std"],
                           warnings=warnings)
        self.per_item(entry, list(usable), values)
        return [self.attach_bootstrap(entry, ctx, list(usable), lambda w: w @ values / w.sum(axis=1))]

    def by_token_length(self, values: np.ndarray, texts: list[str]) -> list[dict[str, Any]]:
        """Fig. 3: mean MS-SSIM per bin of CLIP token length, with 95% CIs."""
        width = self.settings.token_bin_width
        lengths = np.array(clip_token_lengths(texts))
        bins = []
        for start in sorted(set((lengths // width) * width)):
            sel = values[(lengths >= start) & (lengths < start + width)]
            mean, lo, hi = mean_ci(sel)
            bins.append({"tokens": [int(start), int(start + width)], "n": int(sel.size), "mean": mean,
                         "ci95": None if lo is None else [lo, hi]})
        return bins
