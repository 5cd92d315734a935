"""Do per-group floors make subgroup gaps of a set-level metric mean what they say? Coverage over seeds on the
phantom stand-ins (issue 38):

- no gap built in: phantom-faithful's per-sex and per-finding gap intervals should hold 0 about 95 % of the
  time (the interval is simultaneous over the groups, so at least 95 %);
- a gap built in: phantom-underserves-female (per sex) and phantom-fails-effusion (per finding) should be
  detected (interval above 0) with their own group named worst.

Each seed draws new prompts, a new real pool (the reference, its groups from --reference-prompts) and new
stand-in images; FD on the phantom evaluator, `--by sex` and `--by finding`, floors as the calibration profile
sets them. Prints a table and writes a JSON of every seed.

    python benchmarks/subgroup_floors.py --seeds 40 --out /tmp/floors.json
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

# attribute → (prompts, real pool, the stand-in with no gap, the one with a gap, its worst group)
CASES = {"sex": (96, 300, "phantom-faithful", "phantom-underserves-female", "female"),
         "finding": (192, 400, "phantom-faithful", "phantom-fails-effusion", "Pleural Effusion")}
KEY = "fid[phantom-evaluator]"


def one_seed(root: Path, seed: int, attribute: str) -> dict:
    import cxrgen_bench
    from cxrgen_bench.calibration.dataset import PhantomDataset
    from cxrgen_bench.data.datasets.base import PromptTable
    from cxrgen_bench.generation import generate

    n, pool, fair, unfair, _ = CASES[attribute]
    out = root / f"{attribute}-{seed}"
    table = PhantomDataset(out / "dataset").prompts(limit=n + pool, seed=1000 + seed, demographics=attribute == "sex")
    PromptTable(table.rows[:n], table.description, table.extra_columns).write(out / "prompts.csv")
    PromptTable(table.rows[n:], table.description, table.extra_columns).write(out / "pool.csv")
    generate(generator="real", model=str(out / "dataset"), prompts=out / "pool.csv", out=out / "pool",
             profile="calibration-phantom", samples_per_prompt=1, progress=False)
    found = {}
    for name in (fair, unfair):
        generate(generator=name, prompts=out / "prompts.csv", out=out / name, profile="calibration-phantom",
                 samples_per_prompt=1, progress=False, seed=seed)
        result = cxrgen_bench.score(images=out / name, reference=out / "pool", prompts=out / "prompts.csv",
                                    reference_prompts=out / "pool.csv", profile="calibration-phantom", by=attribute,
                                    metrics=[KEY], cache_dir=out / "cache")
        view = result["metrics"][KEY]["subgroups"][attribute]
        found[name] = {"gap": view["gap"]["value"], "ci": view["gap"]["ci"], "worst": view["worst"],
                       "excess": {g: r.get("excess") for g, r in view["groups"].items()}}
    return found


def summary(runs: dict[str, list[dict]]) -> list[str]:
    lines = ["| by | stand-in | seeds | interval holds 0 | detected (above 0) | its group named worst |",
             "|---|---|---|---|---|---|"]
    for attribute, seeds in runs.items():
        _, _, fair, unfair, worst = CASES[attribute]
        for name in (fair, unfair):
            cis = [s[name]["ci"] for s in seeds if s[name]["ci"]]
            holds = sum(ci[0] <= 0 for ci in cis)
            named = sum(s[name]["worst"] == worst for s in seeds) if name == unfair else None
            lines.append(f"| {attribute} | {name} | {len(cis)} | {holds / len(cis):.0%} | {1 - holds / len(cis):.0%} | "
                         + (f"{named / len(seeds):.0%} |" if named is not None else "— |"))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    runs: dict[str, list[dict]] = {a: [] for a in CASES}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for attribute in CASES:
                runs[attribute].append(one_seed(Path(tmp), seed, attribute))
            print(f"seed {seed + 1}/{args.seeds} done ({time.monotonic() - started:.0f} s)", flush=True)
    print("\n".join(summary(runs)))
    if args.out:
        args.out.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
