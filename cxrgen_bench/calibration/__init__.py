"""The calibration benchmark: phantom radiographs with known findings, their reports, and the
phantom evaluator network that reads them (for known-answer checks of every metric)."""
