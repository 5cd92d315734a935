"""Stable Diffusion pipelines built from configs with random weights, no download: a tiny one for
tests (loaded through the `diffusers` generator exactly like a user's checkpoint) and the full
SD 1.4 architecture for speed benchmarks (speed does not depend on weight values).

The tokenizer is CLIP's real BPE tokenizer, exported to Hugging Face's files (vocab.json,
merges.txt) from the vocabulary that open_clip ships, so prompts tokenize as in SD 1.x.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

SD14_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
                 down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                 up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"))
SD14_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
                block_out_channels=(128, 256, 512, 512),
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
SD14_TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                 num_hidden_layers=12, max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768)

TINY_UNET = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
                 cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8,
                 down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
TINY_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, sample_size=64,
                block_out_channels=(16, 32), norm_num_groups=8,
                down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
TINY_TEXT = dict(vocab_size=49408, hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                 max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=32)


def write_clip_tokenizer(folder: Path) -> Path:
    """CLIP's tokenizer as vocab.json + merges.txt, from open_clip's bundled BPE merges."""
    import open_clip.tokenizer as oct

    folder.mkdir(parents=True, exist_ok=True)
    merges = gzip.open(oct.default_bpe(), "rt", encoding="utf-8").read().split("\n")[1:49152 - 256 - 2 + 1]
    byte_chars = list(oct.bytes_to_unicode().values())
    vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"model_max_length": 77, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
         "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer"}))
    return folder


def build_pipeline(size: str = "tiny", seed: int = 0, tokenizer_dir: Path | None = None) -> Any:
    """A StableDiffusionPipeline ("tiny" or "sd14" architecture) with seeded random weights."""
    import tempfile

    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    unet_cfg, vae_cfg, text_cfg = (TINY_UNET, TINY_VAE, TINY_TEXT) if size == "tiny" else (SD14_UNET, SD14_VAE, SD14_TEXT)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**unet_cfg)
    vae = AutoencoderKL(**vae_cfg)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_cfg))
    tok_dir = tokenizer_dir or write_clip_tokenizer(Path(tempfile.mkdtemp()) / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir))
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              num_train_timesteps=1000, skip_prk_steps=True, steps_offset=1)
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def save_pipeline(folder: Path, size: str = "tiny", seed: int = 0) -> Path:
    """Save as a standard diffusers folder (safetensors), the way a trained checkpoint is shipped."""
    build_pipeline(size, seed).save_pretrained(str(folder), safe_serialization=True)
    return folder


RADIOLOGY_WORDS = ("no acute cardiopulmonary process small large moderate left right bilateral pleural effusion "
                   "pneumothorax consolidation cardiomegaly edema heart size is normal lobe upper lower middle "
                   "tube line pacemaker there a of the with and in chest radiograph possible focal").split()


def save_tiny_bert(folder: Path, hidden: int = 48, seed: int = 0) -> Path:
    """A tiny BERT (a stand-in for RadBERT/SapBERT/CXR-BERT) with a small WordPiece vocabulary, saved in
    the transformers format (safetensors + vocab.txt): tests of domain text encoders without downloads."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "-"] + sorted(set(RADIOLOGY_WORDS))
    vocab += [chr(c) for c in range(ord("a"), ord("z") + 1)] + [f"##{chr(c)}" for c in range(ord("a"), ord("z") + 1)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config, add_pooling_layer=False).save_pretrained(str(folder), safe_serialization=True)
    BertTokenizer(str(folder / "vocab.txt"), model_max_length=77).save_pretrained(str(folder))
    return folder
