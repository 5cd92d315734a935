"""Retrieval precision (RoentGen Table 4, middle and bottom): each generated image is a query, real
images (image→image) or real impressions (image→text) are the candidates, ranked by cosine
similarity (most similar first; among equal similarities the earlier candidate first, see topk.py);
Precision@k is the share of a query's top k candidates whose label is the query's, averaged over
queries, and per label over the queries of that label.

Labels are single strings (the protocol keeps reports with exactly one abnormality). A query label
that no candidate has is reported with its precision (0) and a candidate count of 0, not dropped.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .topk import top_k


def precision_at_k(query_emb: Any, cand_emb: Any, query_labels: Sequence[str], cand_labels: Sequence[str],
                   ks: Sequence[int] = (5, 10, 50)) -> dict[str, Any]:
    """``{"precision@5": float, ..., "per_label": {label: {"precision@5": float, ..., "queries": int,
    "candidates": int}}}`` for the cosine ranking of ``cand_emb`` (m, d) for each of ``query_emb`` (n, d)."""
    ranking = rank(query_emb, cand_emb, max(ks))
    return precision_from_ranking(ranking, query_labels, cand_labels, ks)


def rank(query_emb: Any, cand_emb: Any, k: int) -> np.ndarray:
    """(n, k) candidate indices per query, most similar (cosine) first; k ≤ the number of candidates."""
    n_candidates = np.shape(cand_emb)[0]
    if k > n_candidates:
        raise ValueError(f"Precision@{k} needs at least {k} candidates; there are {n_candidates}")
    if np.shape(query_emb)[0] == 0:
        raise ValueError("no queries")
    return top_k(query_emb, cand_emb, k, "cosine")


def hits(ranking: np.ndarray, query_labels: Sequence[str], cand_labels: Sequence[str]) -> np.ndarray:
    """(n, k) booleans: does the candidate at each rank have the query's label."""
    queries = np.asarray([str(x) for x in query_labels], dtype=object)
    candidates = np.asarray([str(x) for x in cand_labels], dtype=object)
    if len(queries) != len(ranking):
        raise ValueError(f"{len(queries)} query labels for {len(ranking)} queries")
    return candidates[ranking] == queries[:, None]


def precision_from_ranking(ranking: np.ndarray, query_labels: Sequence[str], cand_labels: Sequence[str],
                           ks: Sequence[int] = (5, 10, 50)) -> dict[str, Any]:
    if max(ks) > ranking.shape[1]:
        raise ValueError(f"Precision@{max(ks)} needs a ranking of at least {max(ks)} candidates")
    hit = hits(ranking, query_labels, cand_labels)
    queries = np.asarray([str(x) for x in query_labels], dtype=object)
    candidates = [str(x) for x in cand_labels]
    out: dict[str, Any] = {f"precision@{k}": float(hit[:, :k].mean()) for k in ks}
    per_label = {}
    for label in sorted(set(queries.tolist())):
        mine = queries == label
        per_label[label] = {**{f"precision@{k}": float(hit[mine, :k].mean()) for k in ks},
                            "queries": int(mine.sum()), "candidates": candidates.count(label)}
    out["per_label"] = per_label
    return out


def per_query_precision(ranking: np.ndarray, query_labels: Sequence[str], cand_labels: Sequence[str],
                        k: int) -> np.ndarray:
    """(n,) Precision@k of each query: the units a prompt-level bootstrap resamples."""
    return hits(ranking, query_labels, cand_labels)[:, :k].mean(axis=1)
