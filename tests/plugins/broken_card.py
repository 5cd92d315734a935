"""A plug-in whose card lacks required fields: importing it fails while the class is defined."""
from cxrgen_bench.metrics import Card, Metric


class Broken(Metric):
    card = Card(name="broken", direction="higher")  # no value_range, label or summary
