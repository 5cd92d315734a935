"""The reference RoentGen trainer: Stable Diffusion fine-tuning on CXR image/report pairs
(seeds/000 §4, eq. 1–3: the U-Net predicts the noise added to the VAE latent of an image, given the
text encoding of its impression; loss = MSE), and the seeds' baselines as methods of the same loop:

    roentgen            full fine-tuning: U-Net fine-tuned (or re-initialised, --unet-init random),
                        CLIP text encoder frozen or trained jointly (--train-text-encoder), or replaced
                        by a domain encoder (--text-encoder /path/RadBERT; a text_proj layer in the
                        U-Net maps its hidden size to the cross-attention size when they differ)
    dreambooth          U-Net only, with prior preservation (--prior-preservation): class images made
                        by the base model keep the class prior (seeds/000 §4.2)
    lora                DreamBooth + LoRA through peft (seeds/002): low-rank adapters on the U-Net's
                        attention projections (--rank), everything else frozen
    textual-inversion   one new token (--token) whose embedding alone is trained

Multi-GPU / multi-node through accelerate (`accelerate launch -m cxrgen_bench train ...`): the global
batch is per-device × processes × accumulation and is logged. Each sample's noise and timestep come
from (seed, step, global sample index), so N processes give the updates of 1 process at the same
global batch. Checkpoints (every --checkpoint-every steps) hold weights and optimizer tensors in
safetensors and the rest in JSON; a re-run with the same --out resumes from the latest one exactly.
The output folder is a standard diffusers pipeline (safetensors) that `cxrgen-bench generate
--generator diffusers --model OUT` loads directly, plus a model card (README.md) with every setting
and the training data's hash.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from cxrgen_bench.files import atomic_write_text
from cxrgen_bench.errors import InputError

from cxrgen_bench.models.folders import check_pipeline_folder, folder_sha256
from .config import TrainConfig
from .data import PairDataset, epoch_order, sample_generator
from cxrgen_bench.training.checkpoint import checkpoints, latest_checkpoint, load_checkpoint, save_checkpoint

@dataclass
class Components:
    tokenizer: Any
    text_encoder: Any
    vae: Any
    unet: Any
    noise_scheduler: Any
    base_sha256: str


def load_components(cfg: TrainConfig) -> Components:
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import AutoModel, AutoTokenizer, CLIPTextModel, CLIPTokenizer

    base = Path(cfg.base)
    check_pipeline_folder(base, cfg.allow_pickle)
    safe = None if cfg.allow_pickle else True
    vae = AutoencoderKL.from_pretrained(base, subfolder="vae", use_safetensors=safe)
    unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet", use_safetensors=safe)
    noise_scheduler = DDPMScheduler.from_pretrained(base, subfolder="scheduler")
    if cfg.text_encoder:
        # A domain encoder (RadBERT, SapBERT, ...) loaded as plain transformers weights: never remote code.
        tokenizer = AutoTokenizer.from_pretrained(cfg.text_encoder)
        tokenizer.model_max_length = 77  # the prompt length SD was trained with
        text_encoder = AutoModel.from_pretrained(cfg.text_encoder, use_safetensors=safe, add_pooling_layer=False)
        hidden = text_encoder.config.hidden_size
        if hidden != unet.config.cross_attention_dim:
            config = dict(unet.config, encoder_hid_dim=hidden, encoder_hid_dim_type="text_proj")
            mapped = UNet2DConditionModel.from_config(config)
            missing, unexpected = mapped.load_state_dict(unet.state_dict(), strict=False)
            assert not unexpected and all(k.startswith("encoder_hid_proj") for k in missing), (missing, unexpected)
            unet = mapped
    else:
        tokenizer = CLIPTokenizer.from_pretrained(base, subfolder="tokenizer")
        text_encoder = CLIPTextModel.from_pretrained(base, subfolder="text_encoder", use_safetensors=safe)
    if cfg.unet_init == "random":
        torch.manual_seed(cfg.seed)
        unet = UNet2DConditionModel.from_config(unet.config)
    return Components(tokenizer, text_encoder, vae, unet, noise_scheduler, folder_sha256(base))


def configure_method(cfg: TrainConfig, c: Components) -> dict[str, torch.nn.Parameter]:
    """Freeze what the method keeps fixed; return the trainable parameters by qualified name."""
    for module in (c.vae, c.text_encoder, c.unet):
        module.requires_grad_(False)
    trainable: dict[str, torch.nn.Parameter] = {}
    if cfg.method in ("roentgen", "dreambooth"):
        c.unet.requires_grad_(True)
        if cfg.method == "roentgen" and cfg.train_text_encoder:
            c.text_encoder.requires_grad_(True)
    elif cfg.method == "lora":
        from peft import LoraConfig

        c.unet.add_adapter(LoraConfig(r=cfg.rank, lora_alpha=cfg.rank, init_lora_weights="gaussian",
                                      target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    elif cfg.method == "textual-inversion":
        if c.tokenizer.add_tokens(cfg.token) != 1:
            raise InputError(f"--token {cfg.token!r} is already in the tokenizer; choose a new token")
        init_ids = c.tokenizer.encode(cfg.initializer_token, add_special_tokens=False)
        if len(init_ids) != 1:
            raise InputError(f"--initializer-token {cfg.initializer_token!r} must be a single token")
        c.text_encoder.resize_token_embeddings(len(c.tokenizer))
        embeddings = c.text_encoder.get_input_embeddings().weight
        with torch.no_grad():
            embeddings[-1] = embeddings[init_ids[0]]
        embeddings.requires_grad_(True)
    for prefix, module in (("unet", c.unet), ("text_encoder", c.text_encoder)):
        for name, p in module.named_parameters():
            if p.requires_grad:
                trainable[f"{prefix}.{name}"] = p
    if cfg.gradient_checkpointing:
        c.unet.enable_gradient_checkpointing()
        if cfg.method == "roentgen" and cfg.train_text_encoder:
            c.text_encoder.gradient_checkpointing_enable()
    return trainable


def make_class_images(cfg: TrainConfig, c: Components, folder: Path) -> list[Path]:
    """DreamBooth's prior: images of the class prompt made once by the base model (reused on resume)."""
    from diffusers import StableDiffusionPipeline
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"class_{i:04d}.png" for i in range(cfg.num_class_images)]
    todo = [p for p in paths if not p.is_file()]
    if todo:
        pipe = StableDiffusionPipeline(vae=c.vae, text_encoder=c.text_encoder, tokenizer=c.tokenizer, unet=c.unet,
                                       scheduler=c.noise_scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        for p in todo:
            g = torch.Generator().manual_seed(cfg.seed * 7919 + paths.index(p))
            image = pipe(cfg.class_prompt, num_inference_steps=cfg.class_steps, height=cfg.resolution,
                         width=cfg.resolution, generator=g, output_type="np").images[0]
            Image.fromarray((image * 255).round().astype("uint8")).convert("L").save(p)
    return paths


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
        return {"constant": 1.0, "linear": max(0.0, 1 - progress),
                "cosine": 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))}[cfg.lr_scheduler]
    return f


def diffusion_loss(c: Components, unet, text_encoder, pixels: torch.Tensor, input_ids: torch.Tensor,
                   generators: list[torch.Generator], weight_dtype: torch.dtype) -> torch.Tensor:
    """Seeds/000 eq. 1–3: noise a latent to a random timestep; the U-Net predicts the noise (or v)."""
    device = pixels.device
    with torch.no_grad():
        dist = c.vae.encode(pixels.to(weight_dtype)).latent_dist
    eps = torch.stack([torch.randn(dist.mean.shape[1:], generator=g) for g in generators]).to(device)
    latents = (dist.mean + dist.std * eps.to(dist.mean.dtype)) * c.vae.config.scaling_factor
    noise = torch.stack([torch.randn(latents.shape[1:], generator=g) for g in generators]).to(device, latents.dtype)
    steps = c.noise_scheduler.config.num_train_timesteps
    timesteps = torch.stack([torch.randint(0, steps, (), generator=g) for g in generators]).to(device)
    noisy = c.noise_scheduler.add_noise(latents, noise, timesteps)
    hidden = text_encoder(input_ids.to(device))[0]
    prediction = unet(noisy, timesteps, hidden).sample
    target = noise if c.noise_scheduler.config.prediction_type == "epsilon" else \
        c.noise_scheduler.get_velocity(latents, noise, timesteps)
    return F.mse_loss(prediction.float(), target.float())


@dataclass
class Run:
    """What the steps of one training run share: the models, the optimiser and where the run stands."""

    cfg: TrainConfig
    acc: Any  # accelerate.Accelerator
    c: Components
    trainable: dict[str, torch.nn.Parameter]  # by qualified name ("unet.…", "text_encoder.…")
    weight_dtype: torch.dtype
    dataset: PairDataset
    class_paths: list[Path]
    optimizer: Any
    scheduler: Any
    ema: dict[str, torch.Tensor] | None
    ti_reference: torch.Tensor | None  # textual inversion: the embeddings every other token keeps
    log: Callable[[str], None]
    unet: Any = None  # the U-Net and text encoder as accelerate prepared them (DDP-wrapped when they train)
    text_encoder: Any = None
    trained_models: list[Any] = field(default_factory=list)
    writer: Any = None
    step: int = 0
    position: int = 0  # samples consumed, over all processes and epochs
    losses: list[float] = field(default_factory=list)
    started: float = 0.0
    first_step: int = 0

    @property
    def out(self) -> Path:
        return Path(self.cfg.out)

    @property
    def global_batch(self) -> int:
        return self.cfg.batch_size * self.acc.num_processes * self.cfg.gradient_accumulation


def train(cfg: TrainConfig, stop_after: int | None = None, log: Callable[[str], None] = print) -> Path:
    """Train (or resume) and write the pipeline folder; `stop_after` simulates an interruption (tests)."""
    from concurrent.futures import ThreadPoolExecutor

    cfg.validate()
    run = set_up(cfg, log)
    resume(run)
    prepare(run)
    run.writer = tensorboard_writer(run)
    run.started, run.first_step = time.monotonic(), run.step  # a resumed run's rate counts only its own steps
    with ThreadPoolExecutor(max_workers=max(1, cfg.num_workers)) as loader:  # PIL/numpy decoding releases the GIL
        while run.step < cfg.max_steps:
            optimizer_step(run, loader)
            after_step(run)
            if stop_after is not None and stop_after <= run.step < cfg.max_steps:
                return run.out  # simulated interruption: the checkpoint on disk is all that survives
    finish(run)
    return run.out


def set_up(cfg: TrainConfig, log: Callable[[str], None]) -> Run:
    """The accelerator, the models with the method's trainable parameters, the data and the optimiser."""
    from accelerate import Accelerator

    acc = Accelerator(mixed_precision=cfg.mixed_precision, gradient_accumulation_steps=cfg.gradient_accumulation,
                      cpu=cfg.device == "cpu")
    c = load_components(cfg)
    trainable = configure_method(cfg, c)
    weight_dtype = place_frozen_parts(cfg, c, trainable, acc.device)
    ti_reference = c.text_encoder.get_input_embeddings().weight.detach().clone() \
        if cfg.method == "textual-inversion" else None
    dataset = PairDataset(cfg.prompts, cfg.images_root, c.tokenizer, cfg.resolution)
    class_paths = make_class_images(cfg, c, Path(cfg.out) / "class_images") if cfg.prior_preservation else []
    optimizer = torch.optim.AdamW(list(trainable.values()), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
    ema = {n: p.detach().clone().float() for n, p in trainable.items()} if cfg.ema else None
    return Run(cfg, acc, c, trainable, weight_dtype, dataset, class_paths, optimizer, scheduler, ema, ti_reference,
               log)


def place_frozen_parts(cfg: TrainConfig, c: Components, trainable: dict[str, torch.nn.Parameter],
                       device: torch.device) -> torch.dtype:
    """Move the VAE to the device; frozen parts run in the training precision, which is returned."""
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(cfg.mixed_precision, torch.float32)
    c.vae.to(device)
    if weight_dtype != torch.float32:
        c.vae.to(dtype=weight_dtype)
        if not any(n.startswith("text_encoder.") for n in trainable):
            c.text_encoder.to(dtype=weight_dtype)
    return weight_dtype


def resume(run: Run) -> None:
    """Continue from the latest checkpoint in --out, if there is one, exactly where it stopped."""
    latest = latest_checkpoint(run.out / "checkpoints")
    if not latest:
        return
    state = load_checkpoint(latest)
    with torch.no_grad():
        for name, p in run.trainable.items():
            p.copy_(state["trainable"][name])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    if run.ema is not None:
        run.ema = {n: state["trainable"][f"ema.{n}"].clone() for n in run.trainable}
    info = state["info"]
    if info.get("config_sha256") != config_hash(run.cfg):
        raise InputError(f"{latest}: made with other settings; use another --out to start over")
    run.step, run.position = info["step"], info.get("position", 0)
    run.log(f"resuming from {latest} at step {run.step}")


def prepare(run: Run) -> None:
    """Hand the modules that train and the optimiser to accelerate; log the global batch."""
    # DDP refuses modules without trainable parameters, so frozen ones only move to the device.
    trains_unet = any(n.startswith("unet.") for n in run.trainable)
    trains_text = any(n.startswith("text_encoder.") for n in run.trainable)
    acc = run.acc
    run.unet = acc.prepare(run.c.unet) if trains_unet else run.c.unet.to(acc.device)
    run.text_encoder = acc.prepare(run.c.text_encoder) if trains_text else run.c.text_encoder.to(acc.device)
    run.optimizer = acc.prepare(run.optimizer)
    run.trained_models = [m for m, t in ((run.unet, trains_unet), (run.text_encoder, trains_text)) if t]
    cfg, world = run.cfg, acc.num_processes
    run.log(f"method {cfg.method}: {sum(p.numel() for p in run.trainable.values()):,} trainable parameters; global "
            f"batch {run.global_batch} = {cfg.batch_size} per device × {world} processes × "
            f"{cfg.gradient_accumulation} accumulation")


def tensorboard_writer(run: Run) -> Any:
    if not (run.cfg.tensorboard and run.acc.is_main_process):
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise InputError("--tensorboard needs the tensorboard package: pip install tensorboard") from exc
    return SummaryWriter(str(run.out / "logs"))


def optimizer_step(run: Run, loader: Any) -> None:
    """One optimizer step: --gradient-accumulation micro-batches of --batch-size on each process."""
    acc = run.acc
    for _ in range(run.cfg.gradient_accumulation):
        mine = next_micro_batch(run)
        items = list(loader.map(run.dataset.__getitem__, [i for _, i in mine]))  # decoded in parallel, in order
        pixels = torch.stack([it["pixel_values"] for it in items]).to(acc.device)
        ids = torch.stack([it["input_ids"] for it in items])
        with acc.accumulate(*run.trained_models):
            loss = batch_loss(run, mine, pixels, ids)
            acc.backward(loss)
            if acc.sync_gradients and run.cfg.max_grad_norm > 0:
                acc.clip_grad_norm_(list(run.trainable.values()), run.cfg.max_grad_norm)
            run.optimizer.step()
            if acc.sync_gradients:
                run.scheduler.step()
            run.optimizer.zero_grad(set_to_none=True)
        if run.ti_reference is not None:  # only the new token's row may change
            with torch.no_grad():
                weight = run.c.text_encoder.get_input_embeddings().weight
                weight[:-1] = run.ti_reference[:-1].to(weight.dtype)
        run.losses.append(acc.gather(loss.detach()[None]).mean().item())
    run.step += 1


def next_micro_batch(run: Run) -> list[tuple[int, int]]:
    """This process's share of the next micro-batch of all processes, as (global sample index, dataset index).
    Every process walks the same seeded epoch orders, so the samples do not depend on the number of processes."""
    cfg, world, rank, n = run.cfg, run.acc.num_processes, run.acc.process_index, len(run.dataset)
    chunk = []
    for j in range(cfg.batch_size * world):
        epoch, offset = divmod(run.position + j, n)
        chunk.append((run.position + j, epoch_order(n, cfg.seed, epoch)[offset]))
    run.position += cfg.batch_size * world
    return chunk[rank * cfg.batch_size:(rank + 1) * cfg.batch_size]


def batch_loss(run: Run, mine: list[tuple[int, int]], pixels: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The diffusion loss of the batch, plus DreamBooth's prior-preservation loss on class images."""
    cfg, c = run.cfg, run.c
    gens = [sample_generator(cfg.seed, run.step, g) for g, _ in mine]
    loss = diffusion_loss(c, run.unet, run.text_encoder, pixels, ids, gens, run.weight_dtype)
    if not run.class_paths:
        return loss
    picks = [run.class_paths[g % len(run.class_paths)] for g, _ in mine]
    class_pixels = torch.stack([run.dataset.pixels(p) for p in picks]).to(run.acc.device)
    class_ids = c.tokenizer([cfg.class_prompt] * len(picks), max_length=c.tokenizer.model_max_length,
                            padding="max_length", truncation=True, return_tensors="pt").input_ids
    prior = [sample_generator(cfg.seed + 1, run.step, g) for g, _ in mine]
    return loss + cfg.prior_loss_weight * diffusion_loss(c, run.unet, run.text_encoder, class_pixels, class_ids,
                                                         prior, run.weight_dtype)


def after_step(run: Run) -> None:
    """The EMA, then logs, validation and checkpoints, each on its own schedule."""
    cfg, step = run.cfg, run.step
    if run.ema is not None:
        with torch.no_grad():
            for n, p in run.trainable.items():
                run.ema[n].mul_(cfg.ema_decay).add_(p.detach().float(), alpha=1 - cfg.ema_decay)
    if run.writer is not None:
        run.writer.add_scalar("train/loss", run.losses[-1], step)
        run.writer.add_scalar("train/lr", run.scheduler.get_last_lr()[0], step)
    if cfg.validation_every and cfg.validation_prompts and step % cfg.validation_every == 0 and run.acc.is_main_process:
        validate_now(run)
    if step % 10 == 0 or step == cfg.max_steps:
        log_progress(run)
    if step % cfg.checkpoint_every == 0 or step == cfg.max_steps:
        checkpoint(run)


def validate_now(run: Run) -> None:
    acc = run.acc
    metrics = validate(run.cfg, run.c, acc.unwrap_model(run.unet), acc.unwrap_model(run.text_encoder), run.step,
                       run.log)
    for key, value in metrics.items():
        if run.writer is not None and value is not None:
            run.writer.add_scalar(f"validation/{key}", value, run.step)


def log_progress(run: Run) -> None:
    step, max_steps = run.step, run.cfg.max_steps
    elapsed = max(1e-9, time.monotonic() - run.started)
    eta = (max_steps - step) * elapsed / max(1, step - run.first_step)
    recent = run.losses[-10:]
    run.log(f"step {step}/{max_steps} loss {sum(recent) / len(recent):.4f} "
            f"lr {run.scheduler.get_last_lr()[0]:.2e} {(step - run.first_step) * run.global_batch / elapsed:.1f} "
            f"images/s ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}")


def checkpoint(run: Run) -> None:
    """Weights (and their EMA), optimizer, schedule, RNG and data position: what `resume` needs to go on exactly."""
    run.acc.wait_for_everyone()
    if not run.acc.is_main_process:
        return
    cfg, step = run.cfg, run.step
    folder = run.out / "checkpoints" / f"checkpoint-{step}"
    tensors = dict(run.trainable)
    if run.ema is not None:
        tensors.update({f"ema.{n}": v for n, v in run.ema.items()})
    save_checkpoint(folder, tensors, run.optimizer, run.scheduler, {"torch": torch.get_rng_state()},
                    # the settings travel with the checkpoint: a sweep rebuilds its pipeline mid-run
                    {"step": step, "position": run.position, "config_sha256": config_hash(cfg),
                     "loss": run.losses[-1], "settings": asdict(cfg)})
    if cfg.save_text_encoder_every_checkpoint:  # with its tokenizer: a folder CheXpert@k can read
        run.acc.unwrap_model(run.text_encoder).save_pretrained(folder / "text_encoder", safe_serialization=True)
        run.c.tokenizer.save_pretrained(str(folder / "tokenizer"))
    _prune(run.out / "checkpoints", cfg.keep_checkpoints)


def finish(run: Run) -> None:
    """The pipeline folder, written by the main process; with --ema its weights are the averaged ones."""
    acc = run.acc
    acc.wait_for_everyone()
    if acc.is_main_process:
        if run.ema is not None:
            with torch.no_grad():
                for n, p in run.trainable.items():
                    p.copy_(run.ema[n])
        save_pipeline(run.cfg, run.c, acc.unwrap_model(run.unet), acc.unwrap_model(run.text_encoder), run.dataset,
                      run.losses, run.global_batch, acc.num_processes)
    acc.wait_for_everyone()


class InMemoryPipeline:
    """The pipeline being trained, served through the harness as a generator (for validation)."""

    name = "training-pipeline"
    version = "1"

    def __init__(self, pipe: Any, settings: Any, step: int):
        self.pipe, self.settings, self.model, self.step = pipe, settings, f"training step {step}", step

    def weights_sha256(self) -> str:
        return f"training-step-{self.step}"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "step": self.step}

    def generate(self, requests: list) -> list[Any]:
        generators = [torch.Generator().manual_seed(r.seed) for r in requests]
        out = self.pipe([r.text for r in requests], num_inference_steps=self.settings.steps,
                        guidance_scale=self.settings.guidance_scale, height=self.settings.resolution,
                        width=self.settings.resolution, generator=generators, output_type="np")
        return list(out.images)


def validate(cfg: TrainConfig, c: Components, unet, text_encoder, step: int, log: Callable[[str], None]) -> dict:
    """Generate the fixed validation prompts with the current weights through the harness; score them."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    from cxrgen_bench.data.manifest import PromptSet
    from cxrgen_bench.generation.harness import Shard, run_generation
    from cxrgen_bench.generation.protocol import GenerationSettings

    pipe = StableDiffusionPipeline(vae=c.vae, text_encoder=text_encoder, tokenizer=c.tokenizer, unet=unet,
                                   scheduler=PNDMScheduler.from_config(c.noise_scheduler.config), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    settings = GenerationSettings(samples_per_prompt=2, steps=25, resolution=cfg.resolution, seed=cfg.seed)
    folder = Path(cfg.out) / "validation" / f"step-{step}"
    was_training = unet.training
    unet.eval()
    run_generation(InMemoryPipeline(pipe, settings, step), PromptSet.from_csv(cfg.validation_prompts), folder,
                   settings, Shard(), progress=False)
    unet.train(was_training)
    metrics: dict[str, Any] = {}
    if cfg.validation_metrics and cfg.validation_reference:
        from cxrgen_bench.scoring.runner import score

        result = score(images=folder, reference=cfg.validation_reference, prompts=cfg.validation_prompts,
                       metrics=cfg.validation_metrics, out=folder / "results.json")
        metrics = {k: v["value"] for k, v in result["metrics"].items()}
    log(f"validation at step {step}: {folder}" + (f" {metrics}" if metrics else ""))
    return metrics


def _prune(folder: Path, keep: int) -> None:
    import shutil

    found = checkpoints(folder)
    for old in found[:-keep] if keep > 0 else []:
        shutil.rmtree(old)


def config_hash(cfg: TrainConfig) -> str:
    identity = {k: v for k, v in asdict(cfg).items() if k not in ("device", "checkpoint_every", "keep_checkpoints")}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def inference_pipeline(cfg: TrainConfig, c: Components, unet, text_encoder) -> Any:
    """The trained components as the StableDiffusionPipeline users load: LoRA adapters fused into a copy
    of the U-Net, full precision, the PNDM sampler of SD 1.x (shared by the final save and checkpoint export)."""
    from diffusers import PNDMScheduler, StableDiffusionPipeline

    if cfg.method == "lora":
        unet = copy.deepcopy(unet)
        unet.fuse_lora()
        unet.unload_lora()
    for module in (c.vae, text_encoder, unet):
        if module.dtype != torch.float32:
            module.to(torch.float32)  # checkpoints are saved in full precision
    return StableDiffusionPipeline(vae=c.vae, text_encoder=text_encoder, tokenizer=c.tokenizer, unet=unet,
                                   scheduler=PNDMScheduler.from_config(c.noise_scheduler.config),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def save_pipeline(cfg: TrainConfig, c: Components, unet, text_encoder, dataset: PairDataset, losses: list[float],
                  global_batch: int, world: int) -> None:
    """A standard diffusers pipeline folder (safetensors) and its model card."""
    from diffusers import StableDiffusionPipeline

    out = Path(cfg.out)
    if cfg.method == "lora":
        from peft.utils import get_peft_model_state_dict

        lora = get_peft_model_state_dict(unet)
        StableDiffusionPipeline.save_lora_weights(out / "lora", unet_lora_layers=lora, safe_serialization=True)
    if cfg.method == "textual-inversion":
        from safetensors.torch import save_file

        row = text_encoder.get_input_embeddings().weight[-1].detach().float().cpu()
        save_file({cfg.token: row.contiguous()}, str(out / "learned_embeds.safetensors"))
    inference_pipeline(cfg, c, unet, text_encoder).save_pretrained(str(out), safe_serialization=True)
    card = {"method": cfg.method, "settings": asdict(cfg), "base_weights_sha256": c.base_sha256,
            "data": {"prompts": str(dataset.prompts.path), "prompts_sha256": dataset.prompts.sha256,
                     "pairs": len(dataset)},
            "global_batch": global_batch, "processes": world, "final_loss": losses[-1] if losses else None}
    atomic_write_text(out / "training.json", json.dumps(card, indent=2, sort_keys=True) + "\n")
    atomic_write_text(out / "README.md", "# Model card\n\n" + __doc__.split("\n\n")[0] + "\n\n```json\n"
                      + json.dumps(card, indent=2, sort_keys=True) + "\n```\n")
