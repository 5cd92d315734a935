"""Environment variables set for a block and put back after it (`environ`): what `--offline` sets for one
command and what `distributed.alone` sets for one unit of a sweep. main() also runs inside tests and
notebooks, so nothing a block sets may outlive it."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterable, Iterator, Mapping


@contextmanager
def environ(values: Mapping[str, str], restore: Iterable[str] = ()) -> Iterator[None]:
    """Set ``values`` for the block; afterwards each of them, and each variable named in ``restore`` (which
    the block itself may change), is as it was (unset if it was unset)."""
    saved = {name: os.environ.get(name) for name in (*values, *restore)}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
