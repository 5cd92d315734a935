"""`leaderboard build` over 200 measured entries plus the 34 reported ones (issue 6: < 10 s).

    python benchmarks/leaderboard_build.py
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.results_factory import measured  # noqa: E402

from cxrgen_bench.leaderboard.store import Store  # noqa: E402

root = Path(tempfile.mkdtemp())
store = Store(root)
for i in range(200):
    store.add(measured(f"model-{i:03d}", fid=5 + i / 10, ms=0.2 + i / 1000, auroc=0.6 + i / 1000))
subprocess.run([sys.executable, "-m", "cxrgen_bench", "leaderboard", "import-reported", "--root", str(root),
                str(Path(__file__).resolve().parents[1] / "leaderboard/reported/roentgen2022.yaml")], check=True,
               stdout=subprocess.DEVNULL)
start = time.perf_counter()
subprocess.run([sys.executable, "-m", "cxrgen_bench", "leaderboard", "build", "--root", str(root)], check=True,
               stdout=subprocess.DEVNULL)
print(f"leaderboard build, 234 entries (200 measured + 34 reported): {time.perf_counter() - start:.1f} s "
      "(whole command, interpreter start included)")
