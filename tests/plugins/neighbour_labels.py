"""A third-party text metric: the share of reports whose nearest other report (cosine similarity of a
text encoder's embeddings) carries the same CheXpert labels. No images: its subject is a text encoder
with a report set."""
from __future__ import annotations

from typing import Any

import numpy as np

from cxrgen_bench.data.labels import LabelPolicy
from cxrgen_bench.metrics import Card, Metric


class NeighbourLabels(Metric):
    card = Card(name="neighbour_labels", direction="higher", value_range=(0.0, 1.0), label="1-NN labels",
                summary="Share of reports whose nearest other report has the same CheXpert labels.",
                requires=("text_encoder", "reports", "labels"), section="text", order=50)

    def compute(self, ctx: Any) -> list[dict[str, Any]]:
        subject = ctx.subject
        reports = [subject.reports.prompts[pid] for pid in sorted(subject.reports.prompts)]
        policy = LabelPolicy(uncertain=1.0, blank=0.0)
        labels = np.array([[policy.apply(r.labels[c]) for c in subject.reports.label_names] for r in reports])
        out = []
        for extraction in subject.extractions or ("cls",):
            vectors, truncated = ctx.text_embeddings([r.text for r in reports], subject.encoder, extraction)
            unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            sims = unit @ unit.T
            np.fill_diagonal(sims, -np.inf)
            nearest = sims.argmax(axis=1)
            same = (labels == labels[nearest]).all(axis=1).astype(float)
            out.append(self.value(f"{self.card.name}[{extraction}]", float(same.mean()), len(reports), len(reports),
                                  {"truncated": truncated}))
        return out
