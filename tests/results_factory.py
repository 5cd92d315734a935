"""Small, valid results objects for leaderboard and gate tests."""
from __future__ import annotations

import copy

import numpy as np

from cxrgen_bench.functional.bootstrap import resample_weights

PROMPTS = 40


def per_prompt(mean: float, seed: int) -> np.ndarray:
    return np.clip(np.random.default_rng(seed).normal(mean, 0.05, PROMPTS), 0, 1)


def replicates(values: np.ndarray, resamples: int = 400, seed: int = 0) -> list[float]:
    w = resample_weights(len(values), resamples, seed)
    return [float(v) for v in w @ values / len(values)]


def measured(name: str = "model-a", fid: float = 10.0, ms: float = 0.30, auroc: float = 0.80,
             profile: str = "roentgen2022", version: str = "2.1", prompt_sha: str = "p" * 64,
             ms_values: np.ndarray | None = None) -> dict:
    ms_values = per_prompt(ms, 1) if ms_values is None else ms_values
    return {
        "schema_version": "1", "kind": "measured", "status": "complete",
        "profile": {"name": profile, "version": version, "sha256": "0" * 64, "calibration": False},
        "model": {"name": name},
        "image_set": {"content_sha256": "a" * 64, "n_images": PROMPTS * 4, "n_prompts": PROMPTS},
        "prompt_set": {"sha256": prompt_sha, "n_prompts": PROMPTS},
        "metrics": {
            "fid[xrv-densenet121]": {"metric": "fid", "version": "1", "direction": "lower", "value": fid,
                                     "ci95": [fid * 0.9, fid * 1.1], "n": {"requested": PROMPTS, "effective": PROMPTS}},
            "ms_ssim": {"metric": "ms_ssim", "version": "1", "direction": "lower", "value": float(ms_values.mean()),
                        "std": float(ms_values.std(ddof=1)),
                        "bootstrap": {"resamples": 400, "seed": 0, "units_sha256": "u" * 64,
                                      "replicates": replicates(ms_values)},
                        "details": {"by_token_length": [
                            {"tokens": [0, 10], "n": 20, "mean": ms - 0.02, "ci95": [ms - 0.04, ms]},
                            {"tokens": [10, 20], "n": 20, "mean": ms + 0.02, "ci95": [ms, ms + 0.04]}]}},
            "classifier_auroc": {"metric": "classifier_auroc", "version": "1", "direction": "higher", "value": auroc,
                                 "details": {"per_class": {"Edema": auroc, "Pneumothorax": auroc - 0.05}}},
        },
        "environment": {"cxrgen_bench": "0.1.0"},
    }


def variant(result: dict, **metric_values: float) -> dict:
    out = copy.deepcopy(result)
    for key, value in metric_values.items():
        out["metrics"][key.replace("__", "[").replace("_xrv", "xrv-densenet121]") if "__" in key else key]["value"] = value
    return out
