"""The radiologists' reader study (RoentGen §6.5; docs/reader-study.md): blinded realism pairs and
prompt-alignment items, served to each reader by a web app on a SQLite database, analysed into the
results schema with agreement statistics.

    create_study   reader/create.py    draw items, re-encode images, write the study folder
    serve          reader/serve.py     the web app (reader/app.py, pages.py) on uvicorn
    status         reader/status.py    who has answered how much
    analyse        reader/analysis.py  means ± std, bootstrap CIs, κ and α → results per generator
    export_answers reader/export.py    the answers (with the key) as CSV
    demo_study     reader/simulate.py  a small study answered over HTTP by two simulated readers

Imports stay lazy: serving a study must not load numpy-heavy analysis code.
"""
from __future__ import annotations

from typing import Any


def create_study(*args: Any, **kwargs: Any) -> dict[str, Any]:
    from .create import create_study as _create

    return _create(*args, **kwargs)


def serve(*args: Any, **kwargs: Any) -> None:
    from .serve import serve as _serve

    return _serve(*args, **kwargs)


def analyse(*args: Any, **kwargs: Any) -> dict[str, Any]:
    from .analysis import analyse as _analyse

    return _analyse(*args, **kwargs)


def status(*args: Any, **kwargs: Any) -> dict[str, Any]:
    from .status import status as _status

    return _status(*args, **kwargs)


def export_answers(*args: Any, **kwargs: Any) -> Any:
    from .export import export_answers as _export

    return _export(*args, **kwargs)


def demo_study(*args: Any, **kwargs: Any) -> dict[str, Any]:
    from .simulate import demo_study as _demo

    return _demo(*args, **kwargs)


__all__ = ["analyse", "create_study", "demo_study", "export_answers", "serve", "status"]
