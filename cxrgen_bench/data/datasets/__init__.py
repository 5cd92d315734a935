"""Dataset adapters (registered as `datasets`): each turns a dataset's official files into a prompts CSV."""
from .base import Dataset, PromptTable, Skips

__all__ = ["Dataset", "PromptTable", "Skips"]
