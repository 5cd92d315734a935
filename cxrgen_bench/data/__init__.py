"""Image reading, image sets and manifests, prompt sets and CheXpert labels."""
from .images import LoadedImage, read_image, sha256_file
from .labels import CHEXPERT_14, LabelPolicy
from .manifest import ImageRecord, ImageSet, Prompt, PromptSet

__all__ = ["CHEXPERT_14", "ImageRecord", "ImageSet", "LabelPolicy", "LoadedImage", "Prompt", "PromptSet",
           "read_image", "sha256_file"]
