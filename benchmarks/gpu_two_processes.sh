#!/usr/bin/env bash
# The multi-GPU training path for real on one GPU: the tiny pipeline trained by one process at batch 4
# and by two processes (torch.distributed.run, NCCL) at 2 per device, same global batch; compares the
# final losses and U-Net weights. Usage: bash benchmarks/gpu_two_processes.sh OUTDIR
set -u
out=${1:-/tmp/two}
mkdir -p "$out"
python3 - "$out" <<'PY'
import sys
from pathlib import Path
from cxrgen_bench.generation.tiny import save_pipeline
from cxrgen_bench.calibration.dataset import PhantomDataset
out = Path(sys.argv[1])
save_pipeline(out / "base")
PhantomDataset().write(out / "data", n=8, seed=0)
PY
common=(-m cxrgen_bench train roentgen --base "$out/base" --prompts "$out/data/prompts.csv" --images-root "$out/data"
        --resolution 64 --max-steps 4 --checkpoint-every 4 --lr 1e-3 --device cuda)
python3 "${common[@]}" --batch-size 4 --out "$out/one" > "$out/one.log" 2>&1; echo "one process: exit $?"
python3 -m torch.distributed.run --nproc_per_node 2 --master_port 29561 "${common[@]}" --batch-size 2 --out "$out/two" \
    > "$out/two.log" 2>&1; echo "two processes: exit $?"
grep -h "global batch\|Duplicate\|NCCL\|Error\|error" "$out/two.log" | head -8
python3 - "$out" <<'PY'
import json, sys
from pathlib import Path
from safetensors.torch import load_file
out = Path(sys.argv[1])
try:
    la = json.loads((out / "one" / "training.json").read_text())["final_loss"]
    lb = json.loads((out / "two" / "training.json").read_text())["final_loss"]
    a = load_file(str(next((out / "one").glob("unet/*.safetensors"))))
    b = load_file(str(next((out / "two").glob("unet/*.safetensors"))))
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    print(json.dumps({"loss_one_process": la, "loss_two_processes": lb, "max_unet_weight_diff": worst}))
except Exception as exc:  # the log above says why
    print("no comparison:", type(exc).__name__, exc)
PY
