"""`reader-study status`: who has answered how much (read from the database; the key is not needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .db import check_study, owner_connection, progress


def status(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    settings = check_study(folder, verify_images=False)
    with owner_connection(folder) as conn:
        readers = progress(conn)
        created = conn.execute("SELECT value FROM meta WHERE key = 'created_at'").fetchone()[0]
    total = sum(r["total"] for r in readers)
    answered = sum(r["answered"] for r in readers)
    return {"study": str(folder), "created_at": created, "generators": settings.get("generators", []),
            "answered": answered, "total": total, "complete": answered == total, "readers": readers}


def format_status(s: dict[str, Any]) -> str:
    lines = [(f"{s['study']}: {s['answered']} of {s['total']} answers ({', '.join(s['generators'])}; created "
              f"{s['created_at']})")]
    width = max([len(r["reader"]) for r in s["readers"]] + [6])
    lines.append(f"  {'reader':<{width}}  answered  realism   alignment  median s/item  last answer")
    for r in s["readers"]:
        t = r["tasks"]
        median = "—" if r["median_seconds"] is None else f"{r['median_seconds']:.1f}"
        lines.append(f"  {r['reader']:<{width}}  {r['answered']:>4}/{r['total']:<4} "
                     f"{t['realism']['answered']:>4}/{t['realism']['total']:<4} {t['alignment']['answered']:>5}/"
                     f"{t['alignment']['total']:<5} {median:>13}  {r['last_answer'] or '—'}")
    return "\n".join(lines)
