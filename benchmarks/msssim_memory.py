"""Peak memory of MS-SSIM on one prompt's 4 samples (6 pairs), as `ms_ssim` computes it, at 2048² and
8000²: the suite's way (decoded images as views, one pair at a time, each scale in bands of rows;
`cxrgen_bench/functional/msssim.py`) against the way it used to (all 6 pairs stacked into two
batches, converted to float64 and handed to pytorch-msssim at once), and the values of both.

    python benchmarks/msssim_memory.py [--sizes 2048 8000] [--old-sizes 2048] [--precision float64]

Each measurement runs in a fresh process that reads 4 grayscale PNGs written beforehand; it reports
the process's peak resident memory (ru_maxrss) and that peak less its resident memory after the
imports, i.e. what the images and the computation added, and the wall time. Images: a smooth
radiograph-like field plus independent noise per sample (uint8 PNG).
"""
from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GIB = 1 << 30


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def write_samples(folder: Path, side: int) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(side)
    yy, xx = np.ogrid[0:side, 0:side]
    base = 120 + 60 * np.sin(xx / (side / 40)) * np.cos(yy / (side / 25))
    paths = []
    for k in range(4):
        path = folder / f"p0_{k}.png"
        noisy = base + rng.normal(0, 20, (side, side)).astype(np.float32)
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, compress_level=1)
        paths.append(path)
    return paths


def child(way: str, precision: str, paths: list[str]) -> dict:
    import torch

    from cxrgen_bench.data.images import read_image
    from cxrgen_bench.data.manifest import ImageRecord
    from cxrgen_bench.metrics.ms_ssim import IntraPromptMSSSIM

    torch.set_num_threads(max(1, torch.get_num_threads()))
    baseline = rss_bytes()
    started = time.perf_counter()
    if way == "suite":  # exactly what the metric runs for one prompt
        metric = IntraPromptMSSSIM({"precision": precision}, [])
        group = [ImageRecord("p0", k, Path(p), "") for k, p in enumerate(paths)]
        values = metric.pair_values(group, metric._settings())
    else:  # the former code: stacked pairs, one library call on two batches of 6
        import pytorch_msssim

        dtype = {"float32": torch.float32, "float64": torch.float64}[precision]
        stack = torch.from_numpy(np.stack([read_image(p).pixels for p in paths]))[:, None]
        pairs = list(itertools.combinations(range(4), 2))
        a, b = stack[[i for i, _ in pairs]], stack[[j for _, j in pairs]]
        values = pytorch_msssim.ms_ssim(a.to(dtype), b.to(dtype), data_range=1.0, size_average=False).numpy()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    return {"way": way, "precision": precision, "peak_gib": round(peak / GIB, 2),
            "added_gib": round((peak - baseline) / GIB, 2), "seconds": round(seconds, 1),
            "values": [float(v) for v in values]}


def measure(way: str, precision: str, paths: list[Path]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", way, "--precision", precision, *map(str, paths)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"way": way, "precision": precision, "error": (out.stderr.strip().splitlines() or ["?"])[-1],
                "returncode": out.returncode}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2048, 8000])
    p.add_argument("--old-sizes", type=int, nargs="*", default=[2048], help="sizes to measure the former way at too")
    p.add_argument("--precision", default="float64", choices=["float32", "float64"])
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.precision, args.paths)))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for side in args.sizes:
            folder = Path(tmp) / str(side)
            folder.mkdir()
            paths = write_samples(folder, side)
            for way in ("suite", "former") if side in args.old_sizes else ("suite",):
                row = {"side": side, **measure(way, args.precision, paths)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    by = {(r["side"], r["way"]): r for r in rows if "values" in r}
    for side in args.sizes:
        if (side, "suite") in by and (side, "former") in by:
            diff = max(abs(a - b) for a, b in zip(by[side, "suite"]["values"], by[side, "former"]["values"]))
            print(f"{side}²: largest difference between the two ways {diff:.1e}")


if __name__ == "__main__":
    main()
