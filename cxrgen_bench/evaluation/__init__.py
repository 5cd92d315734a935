"""The evaluation core: subjects (what is evaluated), the context of cached providers metrics draw
from, and the runner that turns a subject, a profile and metrics into one validated results object."""
from .context import EvaluationContext, RunOptions
from .subjects import ImageSetSubject, StudySubject, Subject, TextEncoderSubject

__all__ = ["EvaluationContext", "ImageSetSubject", "RunOptions", "StudySubject", "Subject", "TextEncoderSubject"]
