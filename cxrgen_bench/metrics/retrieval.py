"""Retrieval Precision@k (RoentGen §6.3–6.4, Table 4 middle and bottom): generated images as queries
against real images (image→image, conVIRT's image encoder) or real impressions (image→text,
CXR-RePaiR's image–text model); a point for each of the top k candidates with the query's label.
One key per k (`i2i_precision[5]`, ...), per-label precision in details, the query/candidate selection
(seeded, hashed) recorded; the protocol is `retrieval_protocol.py`, the numerics
`functional/retrieval.py`."""
from __future__ import annotations

from .base import Metric
from ..card import Card
from .retrieval_protocol import RetrievalPrecision, RetrievalSettings

_KS = (("1", "P@1"), ("5", "P@5"), ("10", "P@10"), ("50", "P@50"))


class ImageToImagePrecision(RetrievalPrecision, Metric):
    Settings = RetrievalSettings
    to_text = False
    card = Card(
        name="i2i_precision", direction="higher", value_range=(0.0, 1.0), label="Precision@k",
        summary="Share of the top-k real images retrieved by a generated image (by an image encoder's cosine "
                "similarity) that share its label.",
        requires=("images", "reference", "prompts", "labels", "image_encoder"), scale="percent", section="i2i",
        order=10, options=_KS, option_format="{option}",
        reported="RoentGen (conVIRT): P@5 46.1 / P@10 44.4 / P@50 34.9; ground-truth images 55.2 / 47.8 / 40.1",
        limitations="Labels come from the prompts' reports; a generator is credited for the label, not the side "
                    "or size of a finding.")


class ImageToTextPrecision(RetrievalPrecision, Metric):
    Settings = RetrievalSettings
    to_text = True
    card = Card(
        name="i2t_precision", direction="higher", value_range=(0.0, 1.0), label="Precision@k",
        summary="Share of the top-k real impressions retrieved by a generated image (an image–text model's "
                "cosine similarity) that share its label.",
        requires=("images", "prompts", "labels", "image_encoder"), scale="percent", section="i2t", order=10,
        options=_KS, option_format="{option}",
        reported="RoentGen (CXR-RePaiR): P@5 35.0 / P@10 34.4 / P@50 30.2; ground-truth images 41.2 / 40.9 / 37.6")
