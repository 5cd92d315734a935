"""Versioned results: the committed JSON schema and the validated store."""
from .store import SCHEMA_PATH, SCHEMA_VERSION, dumps, read_result, validate, write_result

__all__ = ["SCHEMA_PATH", "SCHEMA_VERSION", "dumps", "read_result", "validate", "write_result"]
