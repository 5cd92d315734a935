"""Training checkpoints without pickle, shared by the reference trainer and the studies: trainable
weights and optimizer tensors in safetensors, everything else (optimizer hyper-parameters, LR
scheduler, step, data position) in JSON. Loading one never executes code from it, and resuming from
it continues bit-exactly on CPU. A checkpoint folder appears only once complete."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..errors import InputError
from ..files import atomic_write_text


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, meta = {}, {"param_groups": state["param_groups"], "state": {}}
    for pid, values in state["state"].items():
        meta["state"][str(pid)] = {}
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().contiguous().cpu()
                meta["state"][str(pid)][key] = "tensor"
            else:
                meta["state"][str(pid)][key] = value
    return tensors, meta


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state = {}
    for pid, values in meta["state"].items():
        state[int(pid)] = {k: tensors[f"{pid}.{k}"] if v == "tensor" else v for k, v in values.items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(folder: Path, trainable: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
                    scheduler: Any, rng: dict[str, torch.Tensor], info: dict[str, Any]) -> Path:
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in trainable.items()}, str(tmp / "trainable.safetensors"))
    tensors, meta = _flatten_optimizer(optimizer.state_dict())
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    atomic_write_text(tmp / "optimizer.json", json.dumps(meta))
    atomic_write_text(tmp / "scheduler.json", json.dumps(scheduler.state_dict() if scheduler is not None else None))
    save_file({k: v.contiguous() for k, v in rng.items()}, str(tmp / "rng.safetensors"))
    atomic_write_text(tmp / "state.json", json.dumps(info, indent=2, sort_keys=True))
    import shutil

    old = folder.with_name(folder.name + ".old")
    if folder.exists():  # replaced, never deleted first: a kill here leaves the old or the new one whole
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    tmp.rename(folder)  # a checkpoint folder exists under its name only once complete
    shutil.rmtree(old, ignore_errors=True)
    return folder


def load_checkpoint(folder: Path) -> dict[str, Any]:
    return {"trainable": load_file(str(folder / "trainable.safetensors")),
            "optimizer": _unflatten_optimizer(load_file(str(folder / "optimizer.safetensors")),
                                              json.loads((folder / "optimizer.json").read_text())),
            "scheduler": json.loads((folder / "scheduler.json").read_text()),
            "rng": load_file(str(folder / "rng.safetensors")),
            "info": json.loads((folder / "state.json").read_text())}


def checkpoints(out: Path) -> list[Path]:
    """Complete checkpoints (``checkpoint-N`` with its state.json) by step; the ".partial"/".old"
    leftovers of a killed save are ignored."""
    found = [p for p in Path(out).glob("checkpoint-*") if p.is_dir() and p.name.split("-", 1)[1].isdigit()
             and (p / "state.json").is_file()]
    return sorted(found, key=step_of)


def checkpoint_settings(checkpoint: Path) -> dict[str, Any]:
    """The trainer settings a checkpoint was made with: its state.json holds them (they are what rebuilds
    its pipeline while the run still trains); checkpoints of older trainers fall back to the finished
    run's training.json, whose settings a resume kept identical (the config hash)."""
    try:
        info = json.loads((Path(checkpoint) / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{checkpoint}: not a readable trainer checkpoint (state.json: {exc})") from None
    if isinstance(info.get("settings"), dict):
        return info["settings"]
    card = Path(checkpoint).parent.parent / "training.json"  # RUN/checkpoints/checkpoint-N → RUN/training.json
    try:
        return json.loads(card.read_text(encoding="utf-8"))["settings"]
    except (OSError, ValueError, KeyError):
        raise InputError(f"{checkpoint}: its state.json does not record the trainer's settings (an older trainer) "
                         f"and {card} is not there to give them; let the run finish, or re-train with this "
                         "cxrgen-bench") from None


def step_of(checkpoint: Path) -> int:
    return int(checkpoint.name.split("-", 1)[1])


def latest_checkpoint(out: Path) -> Path | None:
    found = checkpoints(out)
    return found[-1] if found else None
