"""The reference trainer on CPU: tiny SD components built from configs, phantom image/report pairs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from cxrgen_bench.calibration.dataset import PhantomDataset  # noqa: E402
from cxrgen_bench.errors import InputError  # noqa: E402
from cxrgen_bench.training.checkpoint import latest_checkpoint, load_checkpoint  # noqa: E402
from cxrgen_bench.generators.roentgen.train import (TrainConfig, configure_method, diffusion_loss, load_components,  # noqa: E402
                                       train)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from cxrgen_bench.generation.tiny import save_pipeline

    return save_pipeline(tmp_path_factory.mktemp("base") / "tiny-sd")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    PhantomDataset().write(root, n=8, seed=0)
    return root


def config(base, data, out, **kw):
    values = dict(base=str(base), prompts=str(data / "prompts.csv"), images_root=str(data), out=str(out),
                  resolution=64, batch_size=4, max_steps=4, checkpoint_every=2, lr=1e-3, device="cpu", seed=0)
    values.update(kw)
    return TrainConfig(**values)


def quiet(msg):
    pass


def unet_weights(folder):
    return load_file(str(Path(folder) / "unet" / "diffusion_pytorch_model.safetensors"))


def eval_loss(cfg, folder=None):
    """Loss of a fixed batch with fixed noise: a fair before/after comparison."""
    c = load_components(cfg if folder is None else TrainConfig(**{**cfg.__dict__, "base": str(folder)}))
    from cxrgen_bench.generators.roentgen.data import PairDataset, sample_generator

    ds = PairDataset(cfg.prompts, cfg.images_root, c.tokenizer, cfg.resolution)
    items = [ds[i] for i in range(len(ds))]
    pixels = torch.stack([it["pixel_values"] for it in items])
    ids = torch.stack([it["input_ids"] for it in items])
    with torch.no_grad():
        return float(diffusion_loss(c, c.unet, c.text_encoder, pixels, ids,
                                    [sample_generator(123, 0, i) for i in range(len(items))], torch.float32))


def test_full_finetuning_reduces_the_loss_and_loads_in_the_harness(base, data, tmp_path, prompts_csv=None):
    cfg = config(base, data, tmp_path / "out", max_steps=12, checkpoint_every=6, train_text_encoder=True)
    before = eval_loss(cfg)
    out = train(cfg, log=quiet)
    assert eval_loss(cfg, out) < before
    card = json.loads((out / "training.json").read_text())
    assert card["global_batch"] == 4 and card["data"]["pairs"] == 8 and len(card["data"]["prompts_sha256"]) == 64
    assert (out / "checkpoints" / "checkpoint-12" / "text_encoder" / "model.safetensors").is_file()
    import cxrgen_bench

    summary = cxrgen_bench.generate(generator="diffusers", model=str(out), prompts=data / "prompts.csv",
                                    out=tmp_path / "gen", samples_per_prompt=1, steps=2, resolution=64, progress=False)
    assert summary["generated"] == 8


def test_resume_equals_uninterrupted_bit_exact(base, data, tmp_path):
    straight = train(config(base, data, tmp_path / "a", max_steps=6, checkpoint_every=3), log=quiet)
    interrupted = config(base, data, tmp_path / "b", max_steps=6, checkpoint_every=3)
    train(interrupted, stop_after=3, log=quiet)
    assert latest_checkpoint(tmp_path / "b" / "checkpoints").name == "checkpoint-3"
    assert not (tmp_path / "b" / "model_index.json").exists()
    train(interrupted, log=quiet)
    a, b = unet_weights(straight), unet_weights(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sa = load_checkpoint(tmp_path / "a" / "checkpoints" / "checkpoint-6")
    sb = load_checkpoint(tmp_path / "b" / "checkpoints" / "checkpoint-6")
    assert sa["info"]["position"] == sb["info"]["position"] == 24
    assert all(torch.equal(sa["optimizer"]["state"][0][k], sb["optimizer"]["state"][0][k]) for k in ("exp_avg",))


def changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


@pytest.mark.parametrize("method,extra,may_change", [
    ("roentgen", {}, {"unet"}),
    ("roentgen", {"train_text_encoder": True}, {"unet", "text_encoder"}),
    ("dreambooth", {"prior_preservation": True, "num_class_images": 2, "class_steps": 2}, {"unet"}),
    ("lora", {"rank": 4}, {"lora"}),
    ("textual-inversion", {"token": "<cxr>", "initializer_token": "chest"}, {"token_embedding"}),
])
def test_each_method_trains_only_what_it_should(base, data, tmp_path, method, extra, may_change):
    cfg = config(base, data, tmp_path / method, method=method, max_steps=2, **extra)
    c = load_components(cfg)
    trainable = configure_method(cfg, c)
    before = {f"{m}.{k}": v.detach().clone() for m, mod in (("unet", c.unet), ("text_encoder", c.text_encoder),
                                                              ("vae", c.vae)) for k, v in mod.state_dict().items()}
    names = set(trainable)
    if method == "lora":
        assert names and all("lora" in n for n in names)
    if method == "textual-inversion":
        assert len(names) == 1 and next(iter(names)).endswith("token_embedding.weight")
    out = train(cfg, log=quiet)
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(out))
    after = {f"{m}.{k}": v for m, mod in (("unet", pipe.unet), ("text_encoder", pipe.text_encoder), ("vae", pipe.vae))
             for k, v in mod.state_dict().items()}
    if method == "textual-inversion":
        emb = next(k for k in before if k.endswith("token_embedding.weight"))
        assert after[emb].shape[0] == before[emb].shape[0]  # the row was added before `before` was taken
        assert torch.equal(after[emb][:-1], before[emb][:-1]) and not torch.equal(after[emb][-1], before[emb][-1])
        others = changed({k: v for k, v in before.items() if k != emb}, {k: v for k, v in after.items() if k != emb})
        assert others == set()
        assert (out / "learned_embeds.safetensors").is_file() and "<cxr>" in pipe.tokenizer.get_vocab()
        return
    if method == "lora":
        # fused adapters change only the U-Net's attention projections; compare with the base checkpoint
        base_unet, trained_unet = unet_weights(base), unet_weights(out)
        diff = changed(base_unet, trained_unet)
        assert diff and all(any(t in k for t in ("to_q", "to_k", "to_v", "to_out.0")) for k in diff)
        assert changed({k: v for k, v in before.items() if not k.startswith("unet.")},
                       {k: v for k, v in after.items() if not k.startswith("unet.")}) == set()
        assert (out / "lora" / "pytorch_lora_weights.safetensors").is_file()
        return
    diff = changed(before, after)
    groups = {k.split(".")[0] for k in diff}
    assert groups == may_change, groups
    if method == "dreambooth":
        assert len(list((out / "class_images").glob("*.png"))) == 2


def test_bad_configuration_is_refused(base, data, tmp_path):
    with pytest.raises(InputError, match="unknown training method"):
        train(config(base, data, tmp_path / "x", method="magic"), log=quiet)
    with pytest.raises(InputError, match="--train-text-encoder applies"):
        train(config(base, data, tmp_path / "x", method="lora", train_text_encoder=True), log=quiet)
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt_id,text\np1,no image path\n")
    with pytest.raises(InputError, match="needs an image_path"):
        train(config(base, data, tmp_path / "x", prompts=str(bad)), log=quiet)


def test_two_processes_match_one_process_at_the_same_global_batch(base, data, tmp_path):
    common = ["-m", "cxrgen_bench", "train", "roentgen", "--base", str(base), "--prompts", str(data / "prompts.csv"),
              "--images-root", str(data), "--resolution", "64", "--max-steps", "2", "--checkpoint-every", "2",
              "--lr", "1e-3", "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, *common, "--batch-size", "4", "--out", str(tmp_path / "one")], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29541", *common, "--batch-size", "2", "--out", str(tmp_path / "two")], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "global batch 4 = 2 per device × 2 processes" in two.stdout
    a, b = unet_weights(tmp_path / "one"), unet_weights(tmp_path / "two")
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    # Same samples, noise and timesteps; DDP averages the two halves of the batch. Adam divides each
    # coordinate by its own gradient magnitude, so float rounding in near-zero gradients can move a
    # weight by a small fraction of lr (1e-3); a different batch would move weights by ~lr.
    assert worst < 1e-4
    la = json.loads((tmp_path / "one" / "training.json").read_text())["final_loss"]
    lb = json.loads((tmp_path / "two" / "training.json").read_text())["final_loss"]
    assert la == pytest.approx(lb, rel=1e-5)


def test_domain_text_encoder_swap_with_projection_into_cross_attention(base, data, tmp_path):
    from cxrgen_bench.generation.tiny import save_tiny_bert

    bert = save_tiny_bert(tmp_path / "tiny-radbert", hidden=48)  # 48 ≠ the U-Net's cross-attention size 32
    out = train(config(base, data, tmp_path / "swap", text_encoder=str(bert), unet_init="random", max_steps=2),
                log=quiet)
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(out))
    assert type(pipe.text_encoder).__name__ == "BertModel" and pipe.unet.config.encoder_hid_dim == 48
    import cxrgen_bench

    summary = cxrgen_bench.generate(generator="diffusers", model=str(out), prompts=data / "prompts.csv",
                                    out=tmp_path / "gen", samples_per_prompt=1, steps=2, resolution=64, progress=False)
    assert summary["generated"] == 8


def test_textual_projection_learns_and_generates(base, data, tmp_path):
    from cxrgen_bench.generation.tiny import save_tiny_bert
    from cxrgen_bench.generators.roentgen.projection import train_projection

    bert = save_tiny_bert(tmp_path / "tiny-cxrbert", hidden=48)
    logged = []
    out = train_projection(str(base), str(bert), str(data / "prompts.csv"), str(tmp_path / "proj"), level="token",
                           max_steps=100, batch_size=8, lr=3e-3, log=logged.append)
    first, last = (float(line.rsplit(" ", 1)[1]) for line in (logged[0], logged[-1]))
    assert last < first
    import cxrgen_bench

    summary = cxrgen_bench.generate(generator="textual-projection", model=str(out), prompts=data / "prompts.csv",
                                    out=tmp_path / "gen", samples_per_prompt=1, steps=2, resolution=64, progress=False)
    assert summary["generated"] == 8


def test_validation_during_training_runs_through_the_harness(base, data, tmp_path):
    out = train(config(base, data, tmp_path / "val", max_steps=2, validation_prompts=str(data / "prompts.csv"),
                       validation_every=2), log=quiet)
    folder = out / "validation" / "step-2"
    assert (folder / "manifest.csv").is_file() and len(list(folder.glob("*.png"))) == 16


def test_text_encoder_knowledge_over_training_checkpoints(base, data, tmp_path, capsys):
    """The trainer keeps the text encoder (and its tokenizer) at every checkpoint; `score` on the
    checkpoints folder gives CheXpert@k per step, and the board draws the curve."""
    from cxrgen_bench.calibration.dataset import write_reports
    from cxrgen_bench.cli import main
    from cxrgen_bench.leaderboard.render import build

    cfg = config(base, data, tmp_path / "run", max_steps=4, checkpoint_every=2, train_text_encoder=True, lr=1e-2)
    train(cfg, log=quiet)
    reports = write_reports(tmp_path / "reports.csv", n=60, seed=1)
    curve = tmp_path / "curve"
    assert main(["score", "--text-encoder", str(tmp_path / "run" / "checkpoints"), "--reports", str(reports),
                 "--metrics", "chexpert_at_k", "--extraction", "mean", "--out", str(curve), "--quiet",
                 "--profile", "calibration-phantom"]) == 0
    assert "step" in capsys.readouterr().out
    results = [json.loads(p.read_text()) for p in sorted(curve.glob("step-*.json"))]
    assert [r["subject"]["step"] for r in results] == [2, 4]
    assert results[0]["subject"]["content_sha256"] != results[1]["subject"]["content_sha256"]  # it trained
    assert all(r["metrics"]["chexpert_at_k"]["value"] is not None for r in results)
    board = build([{**r, "name": f"s{r['subject']['step']}"} for r in results], tmp_path / "board")
    assert "plots/chexpert_at_k_over_training.svg" in board


@pytest.mark.parametrize("method,extra", [
    ("roentgen", {"train_text_encoder": True, "ema": True, "ema_decay": 0.5}),
    ("lora", {"rank": 4}),
    ("textual-inversion", {"token": "<cxr>", "initializer_token": "chest"}),
])
def test_the_last_checkpoint_exports_as_the_pipeline_the_run_saved(base, data, tmp_path, method, extra):
    """`cxrgen-bench sweep` rebuilds each checkpoint as a pipeline through the registered trainer: at the
    last step that is the run's own final pipeline, weight for weight (EMA copy, fused LoRA, the new token)."""
    from cxrgen_bench.registry import TRAINERS

    out = train(config(base, data, tmp_path / method, method=method, max_steps=2, checkpoint_every=2, **extra),
                log=quiet)
    exported = TRAINERS.get(method)().export_checkpoint(out / "checkpoints" / "checkpoint-2", tmp_path / "exported")
    for part in ("unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"):
        a, b = load_file(str(out / part)), load_file(str(exported / part))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), part
    if method == "textual-inversion":
        from transformers import CLIPTokenizer

        assert "<cxr>" in CLIPTokenizer.from_pretrained(str(exported / "tokenizer")).get_vocab()
