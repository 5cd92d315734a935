"""What the reference trainer and the training-based studies share: pickle-free, exactly resumable
checkpoints (checkpoint.py)."""
from .checkpoint import checkpoint_settings, checkpoints, latest_checkpoint, load_checkpoint, save_checkpoint, step_of

__all__ = ["checkpoint_settings", "checkpoints", "latest_checkpoint", "load_checkpoint", "save_checkpoint", "step_of"]
