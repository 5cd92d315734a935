"""`reader-study export`: every answer as CSV, joined with the answer key (which generator, which side was
real, the rating on the paper's scale, the original files) unless ``with_key=False``. The web export of
the admin page is the same table without the key columns (no route reads the key)."""
from __future__ import annotations

from pathlib import Path

from ..files import atomic_write_text
from .app import to_csv
from .db import EXPORT_COLUMNS, KEY_COLUMNS, answer_rows, check_study, owner_connection


def export_answers(folder: str | Path, out: str | Path | None = None, with_key: bool = True) -> str:
    """The CSV text (written to ``out`` atomically when given)."""
    folder = Path(folder)
    check_study(folder, verify_images=False)
    with owner_connection(folder) as conn:
        rows = answer_rows(conn, with_key=with_key)
    text = to_csv(rows, EXPORT_COLUMNS + (KEY_COLUMNS if with_key else ()))
    if out is not None:
        atomic_write_text(out, text)
    return text
