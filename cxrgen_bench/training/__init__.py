"""What the reference trainer and the training-based studies share: pickle-free, exactly resumable
checkpoints (checkpoint.py)."""
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

__all__ = ["latest_checkpoint", "load_checkpoint", "save_checkpoint"]
