"""A third-party image metric with a board section of its own: the mean intensity of each prompt's
first sample (a stand-in for any new image metric; higher is "better" only for the test's sake)."""
from __future__ import annotations

from typing import Any

import numpy as np

from cxrgen_bench.data.images import read_image
from cxrgen_bench.metrics import Card, Metric, Section

PLUGIN_SECTION = Section("plugin-brightness", "Plug-in: image brightness", "tests/plugins/brightness.py",
                         "Mean intensity of the first sample of each prompt.", order=15)


class MeanBrightness(Metric):
    card = Card(name="mean_brightness", direction="higher", value_range=(0.0, 1.0), label="Brightness",
                summary="Mean pixel intensity of the first sample of each prompt.", requires=("images",),
                section=PLUGIN_SECTION, version="3")

    def compute(self, ctx: Any) -> list[dict[str, Any]]:
        images = ctx.image_subject.images
        records = images.first_samples()
        values = np.array([float(read_image(r.path).pixels.mean()) for r in records])
        entry = self.value(self.card.name, float(values.mean()), len(images.prompt_ids), len(records))
        return [self.attach_bootstrap(entry, ctx, [r.prompt_id for r in records], lambda w: w @ values / w.sum(1))]
