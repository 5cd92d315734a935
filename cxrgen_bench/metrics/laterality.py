"""Laterality adherence: for prompts that place a finding on one side ("small left pleural
effusion"), the share of generated images whose finding appears on the requested side, as judged
by a side-aware scorer. None of the peer suites measures this; RoentGen's prompts state sides often.
0.5 ≈ side chosen at random, 0 = always the wrong side.

The scorer is a backbone with a "sides" layer that outputs, per lateralised finding, P(left) and
P(right) (`side_findings` names them, in order). The phantom evaluator is one such scorer; a
real-radiograph scorer (e.g. a classifier run on left and right lung crops) plugs in by registering
a backbone with the same layer. An image counts as adherent when its requested side scores higher
than the other side.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..data.laterality import stated_sides
from ..errors import InputError, MetricError
from ..results.entry import Entry
from ..settings import Settings, setting
from .base import Metric
from ..card import Card

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext


@dataclass(frozen=True)
class LateralitySettings(Settings):
    backbone: str | None = setting(None, "the side-aware scorer: a backbone with a 'sides' layer")
    findings: tuple[str, ...] | None = setting(None, "the lateralised findings checked (null: every one the "
                                                     "scorer reads)")
    preprocessing: str | None = setting(None, "the scorer's input (null: the backbone's in the profile)")


class LateralityAdherence(Metric):
    Settings = LateralitySettings
    card = Card(
        name="laterality", version="1", direction="higher", value_range=(0.0, 1.0), label="Laterality",
        summary="Share of images showing a lateralised finding on the side the prompt asks for.",
        requires=("images", "prompts", "image_encoder"), section="laterality", order=10,
        per_class=("Pleural Effusion", "Pneumothorax", "Consolidation"), per_class_field="per_finding",
        headline_label="All",
        limitations="Needs a side-aware scorer (a backbone with a 'sides' layer); the phantom evaluator is one.")

    def compute(self, ctx: EvaluationContext) -> list[Entry]:
        subject = ctx.image_subject
        name = self.required("backbone")
        net = ctx.backbone(name)
        if "sides" not in net.layers or not hasattr(net, "side_findings"):
            raise InputError(f"laterality: backbone {name} has no 'sides' layer (a side-aware scorer)")
        findings = list(net.side_findings)
        wanted = [f for f in (self.settings.findings or findings) if f in findings]
        units: list[str] = []  # prompt ids in order
        checks: list[tuple[int, int, int]] = []  # (record index, finding index, side index)
        records = subject.images.records
        prompt_index: dict[str, int] = {}
        sides_of: dict[str, dict[str, str]] = {}  # one parse per prompt, not per sample
        for i, r in enumerate(records):
            if r.prompt_id not in sides_of:
                text = subject.prompt_text(r.prompt_id)
                if not text:
                    raise InputError(f"laterality needs prompt texts (--prompts or a prompt column); none for "
                                     f"{r.prompt_id}")
                sides_of[r.prompt_id] = stated_sides(text)
            for finding, side in sides_of[r.prompt_id].items():
                if finding in wanted:
                    if r.prompt_id not in prompt_index:
                        prompt_index[r.prompt_id] = len(units)
                        units.append(r.prompt_id)
                    checks.append((i, findings.index(finding), 0 if side == "left" else 1))
        if not checks:
            raise MetricError("laterality: no prompt places a lateralised finding on one side "
                              f"({', '.join(wanted)} with 'left' or 'right')")
        used = sorted({i for i, _, _ in checks})
        preprocessing = self.settings.preprocessing or ctx.profile.backbone(name)["preprocessing"]
        sides = ctx.image_features([records[i] for i in used], name, preprocessing, "sides")
        row = {i: k for k, i in enumerate(used)}
        correct = np.array([sides[row[i], 2 * f + s] > sides[row[i], 2 * f + 1 - s] for i, f, s in checks], float)
        unit_of = np.array([prompt_index[records[i].prompt_id] for i, _, _ in checks])
        per_finding = {findings[f]: float(correct[[k for k, (_, ff, _) in enumerate(checks) if ff == f]].mean())
                       for f in sorted({f for _, f, _ in checks})}
        # per-prompt sums and counts, so the bootstrap resamples prompts with all their samples
        hits = np.bincount(unit_of, weights=correct, minlength=len(units))
        counts = np.bincount(unit_of, minlength=len(units)).astype(float)
        entry = self.entry(self.name, float(correct.mean()), len(subject.images.prompt_ids), len(checks),
                           {"per_finding": per_finding, "scorer": name, "checks": len(checks),
                            "prompts_with_sides": len(units), "rule": "requested side scores higher"})
        self.per_item(entry, [f"{records[i].prompt_id}/{records[i].sample_idx}/{findings[f]}" for i, f, _ in checks],
                      correct)
        return [self.attach_bootstrap(entry, ctx, units, lambda w: (w @ hits) / (w @ counts))]
