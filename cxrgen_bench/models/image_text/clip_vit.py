"""OpenAI CLIP ViT-B/32 image embeddings (``encode_image``, 512-d) through open_clip.

Preprocessing: open_clip's OpenAI transform (bicubic resize of the shorter side to 224, centre crop
224, CLIP mean/std) applied to an 8-bit RGB rendering of the canonical image (``openai-clip-224``) or
of the file's own colour channels (``openai-clip-224-rgb``, as the official RoentGen evaluation fed
PIL `convert("RGB")` images to CLIP). 16-bit sources are therefore quantised to 8 bits here.
The generic open_clip backbone (open_clip.py) with this architecture fixed.
"""
from __future__ import annotations

from .open_clip import OpenCLIPImage


class CLIPViTB32(OpenCLIPImage):
    name = "clip-vit-b-32"
    architecture = "ViT-B-32-quickgelu"  # OpenAI's ViT-B/32 uses QuickGELU
    # openai-clip-224-rgb reads a colour file's channels (the official RoentGen path); equal on grayscale files
    preprocessings = ("openai-clip-224-rgb", "openai-clip-224")
    colour_preprocessings = frozenset({"openai-clip-224-rgb"})
