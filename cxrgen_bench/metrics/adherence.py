"""Demographic adherence (RoentGen-v2's quality check as a metric): the share of generated images whose
predicted sex, age or race matches what the prompt states ("50 year old White female. ..."). One key per
attribute: `adherence[sex]`, `adherence[age]` (within `age_tolerance` years, 16 as RoentGen-v2),
`adherence[race]` (the predictor's categories; prompts of other groups are not checked and are counted).

RoentGen-v2's own count differs for race: it checks a prompt only when its CSV value, capitalised, is one of
the predictor's classes ("WHITE" is checked, "WHITE - OTHER EUROPEAN" and "BLACK/AFRICAN AMERICAN" are not),
and counts every image it does not check as passed. `details.roentgen_v2` of `adherence[race]` gives that
count beside ours; the value (and the board) is ours, which leaves unchecked prompts out.

Predictors are attribute-predicting backbones (`models/image/attributes.py`; the profile's `predictors`
names one per attribute); every image of a prompt is checked (`samples: all`), the bootstrap resamples
prompts. Scored on the real images of the same prompts it gives the ceiling a generator can reach with
these predictors. The images that fail go beside the results (`--out R.json` → `R.adherence-failures.csv`,
the list RoentGen-v2 filters out). `--by sex` etc. break it down per group like any metric.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..card import Card
from ..data.subgroups import UNKNOWN, groups_of, settings
from ..errors import InputError, MetricError
from ..functional.subgroups import group_gap
from ..results.entry import Entry
from ..settings import Settings, setting
from .base import Metric

if TYPE_CHECKING:
    from ..evaluation.context import EvaluationContext

ATTRIBUTES = ("sex", "age", "race")


@dataclass(frozen=True)
class AdherenceSettings(Settings):
    predictors: dict[str, str] = setting({}, "attribute (sex, age, race) → the backbone predicting it")
    age_tolerance: float = setting(16.0, "years a predicted age may differ from the prompt's (RoentGen-v2: 16)",
                                   minimum=0.0)
    samples: Literal["all", "first"] = setting("all", "every generated image, or the first sample of each prompt")


class DemographicAdherence(Metric):
    Settings = AdherenceSettings
    card = Card(
        name="adherence", version="1", direction="higher", value_range=(0.0, 1.0), label="Adherence",
        summary="Share of generated images whose predicted sex, age (within a tolerance) or race matches the prompt's.",
        requires=("images", "prompts", "image_encoder"), section="demographics", order=10,
        options=(("sex", "sex"), ("age", "age"), ("race", "race")),
        reported="RoentGen-v2 filters generated images by these checks (age within 16 years)",
        limitations="Only as good as the predictors: read it beside the same metric on real images (the ceiling).")

    def compute(self, ctx: EvaluationContext) -> list[Entry]:
        subject = ctx.image_subject
        if subject.prompts is None:
            raise InputError("adherence compares each image with its prompt's sex, age and race: give --prompts with "
                             "those columns")
        predictors = dict(self.settings.predictors)
        wanted = self.options or [a for a in ATTRIBUTES if a in predictors]
        unknown = [a for a in wanted if a not in predictors]
        if unknown:
            raise InputError(f"adherence: profile {ctx.profile.name} names no predictor for {', '.join(unknown)} "
                             f"(metrics.adherence.predictors has {', '.join(predictors) or 'none'})")
        records = subject.images.records if self.settings.samples == "all" else subject.images.first_samples()
        tolerance = self.settings.age_tolerance
        failures: list[dict[str, Any]] = []
        out = []
        for attribute in wanted:
            key = f"{self.name}[{attribute}]"
            try:
                out.append(self._one(ctx, attribute, predictors[attribute], records, tolerance, failures))
            except MetricError as exc:
                if ctx.strict:
                    raise
                out.append(self.failed(key, len(subject.images.prompt_ids), exc))
            except Exception as exc:  # a missing predictor (ModelUnavailable) costs only its attribute
                from ..errors import CxrgenError

                if not isinstance(exc, CxrgenError) or ctx.strict:
                    raise
                ctx.log(f"{key} " + getattr(exc, "brief", f"failed: {exc}"))
                out.append(self.failed(key, len(subject.images.prompt_ids), exc))
        if failures:
            buf = io.StringIO()
            writer = csv.DictWriter(buf, ["image", "prompt_id", "attribute", "stated", "predicted"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(failures)
            ctx.artifacts["adherence-failures.csv"] = buf.getvalue()
        return out

    def _one(self, ctx: EvaluationContext, attribute: str, predictor: str, records: list, tolerance: float,
             failures: list[dict[str, Any]]) -> Entry:
        subject = ctx.image_subject
        net = ctx.backbone(predictor)
        layer = getattr(net, "predicts", {}).get(attribute)
        if layer is None:
            raise MetricError(f"adherence[{attribute}]: backbone {predictor} predicts "
                              f"{', '.join(getattr(net, 'predicts', {})) or 'no attribute'}, not {attribute}")
        config = settings(ctx.profile.subgroups)
        stated = self._stated(subject.prompts, attribute, config)
        if getattr(net, "classes", ()):  # a categorical predictor checks only the groups it knows
            stated = {pid: g for pid, g in stated.items() if g in net.classes}
        checked = [r for r in records if stated.get(r.prompt_id) is not None]
        if not checked:
            raise MetricError(f"adherence[{attribute}]: no prompt states a {attribute} the predictor can check "
                              f"({subject.prompts.path})")
        cfg = ctx.profile.backbone(predictor)
        scores = ctx.image_features(checked, predictor, cfg.get("preprocessing", net.preprocessings[0]), layer,
                                    f"adherence {attribute}")
        if attribute == "sex":
            predicted = np.where(scores[:, 0] >= 0.5, "female", "male")
            correct = np.array([p == stated[r.prompt_id] for p, r in zip(predicted, checked)])
        elif attribute == "age":
            predicted = np.rint(scores[:, 0])
            truth = np.array([stated[r.prompt_id] for r in checked], dtype=np.float64)
            correct = np.abs(predicted - truth) <= tolerance
        else:
            predicted = np.array(net.classes)[np.argmax(scores, axis=1)]
            correct = np.array([p == stated[r.prompt_id] for p, r in zip(predicted, checked)])
        for r, p, ok in zip(checked, predicted, correct):
            if not ok:
                failures.append({"image": str(r.path), "prompt_id": r.prompt_id, "attribute": attribute,
                                 "stated": stated[r.prompt_id], "predicted": p if isinstance(p, str) else f"{p:g}"})
        units = sorted({r.prompt_id for r in checked})
        column = {u: i for i, u in enumerate(units)}
        hits = np.zeros(len(units))
        counts = np.zeros(len(units))
        for r, ok in zip(checked, correct):
            hits[column[r.prompt_id]] += float(ok)
            counts[column[r.prompt_id]] += 1
        value = float(hits.sum() / counts.sum())
        groups = [str(stated[r.prompt_id]) if attribute != "age" else groups_of(
            subject.prompts, "age_band", config)[r.prompt_id][0] for r in checked]
        by_group = group_gap(correct.astype(float), groups, higher_is_better=True)
        details: dict[str, Any] = {
            "predictor": predictor, "layer": layer, "images_checked": len(checked),
            "images_not_checked": len(records) - len(checked), "failures": int((~correct).sum()),
            "per_group": by_group["per_group"], "samples": self.settings.samples}
        if attribute == "age":
            truth = np.array([stated[r.prompt_id] for r in checked], dtype=np.float64)
            details.update(tolerance_years=tolerance, mean_absolute_error=float(np.abs(scores[:, 0] - truth).mean()))
        if attribute == "race":
            details["roentgen_v2"] = self._roentgen_v2_race(ctx, net, predictor, layer, records)
        entry = self.entry(f"{self.name}[{attribute}]", value, len(subject.images.prompt_ids), len(units), details)
        self.per_item(entry, [f"{r.prompt_id}/{r.sample_idx}" for r in checked], correct.astype(float))
        return self.attach_bootstrap(entry, ctx, units,
                                     lambda w: (w @ hits) / np.maximum(w @ counts, 1e-12))

    @staticmethod
    def _roentgen_v2_race(ctx: EvaluationContext, net: Any, predictor: str, layer: str,
                          records: list) -> dict[str, Any]:
        """RoentGen-v2's count of images passing its race check (see the module docstring), over every image."""
        prompts = ctx.image_subject.prompts
        column = next((c for c in ("race", "ethnicity") if c in prompts.attribute_names), None)
        target = {pid: str(p.attributes.get(column, "")).capitalize() for pid, p in prompts.prompts.items()} \
            if column else {}
        checked = [r for r in records if target.get(r.prompt_id) in net.classes]
        passed = len(records) - len(checked)
        if checked:
            cfg = ctx.profile.backbone(predictor)
            scores = ctx.image_features(checked, predictor, cfg.get("preprocessing", net.preprocessings[0]), layer,
                                        "adherence race (RoentGen-v2's count)")
            predicted = np.array(net.classes)[np.argmax(scores, axis=1)]
            passed += int(sum(p == target[r.prompt_id] for p, r in zip(predicted, checked)))
        return {"value": passed / len(records), "passed": passed, "images": len(records),
                "images_checked": len(checked),
                "rule": "checked only where the CSV's race, capitalised, is a predictor class; unchecked images pass"}

    @staticmethod
    def _stated(prompts: Any, attribute: str, config: dict[str, Any]) -> dict[str, Any]:
        """prompt id → what the prompt states (sex group, age in years, race group); unknown left out."""
        if attribute == "age":
            column = next((c for c in ("age", "anchor_age") if c in prompts.attribute_names), None)
            if column is None:
                raise MetricError(f"adherence[age]: {prompts.path} has no age column")
            out = {}
            for pid, p in prompts.prompts.items():
                try:
                    out[pid] = float(p.attributes.get(column, ""))
                except ValueError:
                    continue
            return out
        groups = groups_of(prompts, attribute, config)
        return {pid: g[0] for pid, g in groups.items() if g[0] != UNKNOWN}
