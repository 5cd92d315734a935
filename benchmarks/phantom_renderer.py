"""Phantom renderer throughput on one core (issue 7: ≥ 50 images/s at 256²).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 python benchmarks/phantom_renderer.py
"""
import time

import numpy as np

from cxrgen_bench.calibration.phantom import random_findings, render

rng = np.random.default_rng(0)
findings = [random_findings(rng) for _ in range(500)]
render(findings[0], 0)  # builds the texture bank once
start = time.perf_counter()
for i, f in enumerate(findings):
    render(f, i, size=256)
print(f"{len(findings) / (time.perf_counter() - start):.0f} images/s at 256² (random findings, PA/AP)")
