"""Studies (the `studies` registry): long, resumable, training-based evaluations that write the
results schema every evaluation writes; `cxrgen-bench study NAME ...` runs one (see base.py)."""
from .base import Study, StudyMetric, Unit, run_study

__all__ = ["Study", "StudyMetric", "Unit", "run_study"]
