"""Patient re-identification risk per generated image (`reid[mean]`, `reid[max]`), as CheXGenBench's
`metrics/privacy_metrics.py` defines it: a Siamese network trained to tell whether two radiographs
show the same patient (Packhäuser et al. 2022; the `reid-siamese` backbone) scores each generated
image against a real one; per prompt, the mean and the max over its samples (CheXGenBench: 10 seeds
per prompt); the reported values are the means over prompts of those two.

Which real image (`pairing`):
- ``own-prompt`` (CheXGenBench's): the real image whose report the prompt is, i.e. the reference image
  of the same prompt id (CheXGenBench pairs training prompts with their training images); prompts
  without one are skipped and counted;
- ``nearest``: the reference image the scorer rates most alike (the highest score over the whole
  reference set, e.g. the training set): the risk from any training patient, not only the prompt's.

The scorer is the backbone's pair score when it has one (`reid-siamese`: sigmoid of its head on
|e₁ − e₂|), else the cosine similarity of its features — the route the memorisation study takes with
the phantom evaluator, which is how the calibration phantoms get a known answer without the real
Siamese weights. Per-prompt values are kept (`per_item` of each key) for paired tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from ..card import Card
from ..errors import InputError, MetricError
from ..results.entry import Entry
from ..settings import Settings, setting
from .base import Metric

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext

PAIR_BLOCK = 65536  # generated × reference pairs scored at once (nearest pairing)


@dataclass(frozen=True)
class ReIdentificationSettings(Settings):
    backbone: str = setting("reid-siamese", "the scorer (reid-siamese; phantom-evaluator on phantoms)")
    pairing: Literal["own-prompt", "nearest"] = setting("own-prompt", "which real image: the prompt's own "
                                                                      "(CheXGenBench) or the nearest")
    samples: Literal["all", "first"] = setting("all", "every sample of a prompt (CheXGenBench: 10 seeds) or the "
                                                      "first")
    preprocessing: str | None = setting(None, "of the generated images (null: the backbone's in the profile)")
    reference_preprocessing: str | None = setting(None, "of the real images (null: as the generated images)")
    threshold: float = setting(0.5, "a pair score above it counts as re-identified")


class ReIdentification(Metric):
    Settings = ReIdentificationSettings
    card = Card(
        name="reid", direction="lower", value_range=(-1.0, 1.0), label="Re-ID",
        summary="Patient re-identification score of generated images against real ones (Siamese ResNet-50): per "
                "prompt the mean and the max over its samples, averaged over prompts.",
        requires=("images", "reference", "image_encoder"), scale="unit", section="memorisation", order=40,
        options=(("mean", "mean"), ("max", "max")),
        reported="CheXGenBench reports the mean and max re-identification score over 10 samples per prompt",
        limitations="Only as good as the Siamese network, which no public host serves: bring your own weights "
                    "(--weights reid-siamese=FILE). With a scorer that has no pair head the value is a cosine "
                    "similarity, on another scale.")

    def compute(self, ctx: EvaluationContext) -> list[Entry]:
        subject = ctx.image_subject
        if subject.reference is None:
            raise InputError("reid needs --reference: the real images the generated ones are compared with (for "
                             "CheXGenBench's pairing, the training image of each prompt under the same prompt id)")
        name, pairing = self.settings.backbone, self.settings.pairing
        net = ctx.backbone(name)
        cfg = ctx.profile.backbone(name)
        prep = self.settings.preprocessing or cfg["preprocessing"]
        ref_prep = self.settings.reference_preprocessing or prep
        layer = cfg.get("layer") or next(iter(net.layers))
        images = subject.images
        generated = images.records if self.settings.samples == "all" else images.first_samples()
        if pairing == "own-prompt":
            own = {r.prompt_id: r for r in subject.reference.first_samples()}
            unpaired = sorted({r.prompt_id for r in generated} - set(own))
            generated = [r for r in generated if r.prompt_id in own]
            if not generated:
                raise MetricError("reid (own-prompt pairing): no generated image has a reference image of its prompt id")
            references = sorted({own[r.prompt_id] for r in generated}, key=lambda r: r.prompt_id)
        else:
            unpaired, references = [], subject.reference.records
        gen = ctx.image_features(generated, name, prep, layer, "generated")
        ref = ctx.image_features(references, name, ref_prep, layer, "reference")
        scorer, kind = _scorer(net)
        if pairing == "own-prompt":
            row = {r.prompt_id: i for i, r in enumerate(references)}
            matched = np.array([row[r.prompt_id] for r in generated])
            scores = scorer(gen, ref[matched])
        else:
            scores, matched = _best(scorer, gen, ref)
        prompts = sorted({r.prompt_id for r in generated})
        index = {p: i for i, p in enumerate(prompts)}
        of = np.array([index[r.prompt_id] for r in generated])
        mean = np.bincount(of, weights=scores, minlength=len(prompts)) / np.bincount(of, minlength=len(prompts))
        best = np.full(len(prompts), -np.inf)
        np.maximum.at(best, of, scores)
        threshold = self.settings.threshold
        samples = np.bincount(of, minlength=len(prompts))
        details: dict[str, Any] = {
            "backbone": name, "scorer": kind, "pairing": pairing, "preprocessing": prep,
            "reference_preprocessing": ref_prep, "layer": layer, "prompts": len(prompts),
            "samples_per_prompt": {"min": int(samples.min()), "max": int(samples.max())},
            "prompts_without_reference": len(unpaired)}
        if kind == "pair score":
            details.update(threshold=threshold, share_images_above=float(np.mean(scores > threshold)),
                           share_prompts_max_above=float(np.mean(best > threshold)))
        order = np.argsort(-scores, kind="stable")[:16]
        details["top_pairs"] = [{"generated": f"{generated[i].prompt_id}/{generated[i].sample_idx}",
                                 "reference": str(references[matched[i]].path.name), "score": float(scores[i])}
                                for i in order]
        warnings = [f"{len(unpaired)} prompt(s) have no reference image of their prompt id and were skipped, e.g. "
                    f"{', '.join(unpaired[:3])}"] if unpaired else []
        if kind != "pair score":
            warnings.append(f"{name} has no pair head: the score is the cosine similarity of its features")
        out = []
        for stat, per_prompt in (("mean", mean), ("max", best)):
            entry = self.entry(f"reid[{stat}]", float(per_prompt.mean()), len(images.prompt_ids), len(generated),
                               {**details, "per_prompt": stat}, backbone=name, warnings=list(warnings))
            self.per_item(entry, prompts, per_prompt)
            out.append(self.attach_bootstrap(entry, ctx, prompts, lambda w, v=per_prompt: (w @ v) / w.sum(axis=1)))
        return out


def _scorer(net: Any) -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], str]:
    """Row-wise pair scores of two embedding arrays, and what they are."""
    if hasattr(net, "pair_score"):
        return (lambda a, b: np.asarray(net.pair_score(a, b), np.float64)), "pair score"

    def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        return (a * b).sum(axis=1) / np.maximum(norms, 1e-12)

    return cosine, "cosine similarity"


def _best(scorer: Callable, gen: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each generated row, the highest score over every reference row and that row's index."""
    scores, matched = np.full(len(gen), -np.inf), np.zeros(len(gen), dtype=np.int64)
    tile = min(len(ref), PAIR_BLOCK)  # reference rows at a time: pairs scored at once stay under PAIR_BLOCK
    per = max(1, PAIR_BLOCK // max(1, tile))
    for start in range(0, len(gen), per):
        g = gen[start:start + per]
        for first in range(0, len(ref), tile):
            r = np.asarray(ref[first:first + tile])
            s = scorer(np.repeat(g, len(r), axis=0), np.tile(r, (len(g), 1))).reshape(len(g), len(r))
            best = s.argmax(axis=1)
            better = s[np.arange(len(g)), best] > scores[start:start + len(g)]  # ties keep the earlier row
            matched[start:start + len(g)][better] = first + best[better]
            scores[start:start + len(g)][better] = s[np.arange(len(g)), best][better]
    return scores, matched
