"""Copy the tables a demo run printed (OUT/tables.md) into README.md, between its demo-tables markers, so
that the README shows exactly what `cxrgen-bench demo` prints (tests/test_calibration.py compares them).

    cxrgen-bench demo --out cxrgen-demo && python scripts/readme_tables.py cxrgen-demo/tables.md
"""
from __future__ import annotations

import sys
from pathlib import Path

START, END = "<!-- demo-tables:start -->", "<!-- demo-tables:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"


def main(tables_md: str) -> int:
    tables = Path(tables_md).read_text(encoding="utf-8").strip()
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"{README}: no {START} … {END} block", file=sys.stderr)
        return 2
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{tables}\n{END}{tail}", encoding="utf-8")
    print(f"README.md: demo tables from {tables_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "cxrgen-demo/tables.md"))
