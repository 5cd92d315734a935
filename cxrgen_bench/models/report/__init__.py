"""Report generators (the `report_generators` registry): image → impression text, for the factual
correctness metrics of RoentGen Table 4 (a fixed report-generation model reads generated images)."""
from .base import ReportGenerator

__all__ = ["ReportGenerator"]
