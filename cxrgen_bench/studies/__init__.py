"""Studies (the `studies` registry): long, resumable, training-based evaluations that write the
results schema every evaluation writes; `cxrgen-bench study NAME ...` runs one (see base.py)."""
from ..metrics.base import StudyMetric  # the cards of what studies compute sit with the metrics
from .base import Study, Unit, run_study

__all__ = ["Study", "StudyMetric", "Unit", "run_study"]
