"""Exact k-nearest-neighbour search in blocks: bounded memory whatever the size of either set.

The query and reference sets are cut into blocks; each (query block × reference block) distance
matrix is formed with one matrix product in float64 (||a||² − 2a·b + ||b||² cancels badly in float32
when a ≈ b, precisely the near-copies memorisation looks for) and merged into the running best
candidates per query: k plus a few spare ones (`SLACK`). The candidates' distances are then
recomputed directly from their differences and the k best kept, so an exact copy is at distance 0,
not at a rounding residue, and exact ties (duplicate references, whose matrix-product distances can
differ in the last bits) go to the lowest reference index whatever the block sizes.

Peak extra memory: one float64 copy of a reference block (by default as many rows as fit in
`BLOCK_BYTES`, 32 MiB), the same for a query block, and a few query_block × reference_block float64
matrices (1024 × 1024 × 8 B = 8 MiB at d = 4096): independent of the number of reference vectors.
The inputs may be memory-mapped arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

METRICS = ("euclidean", "cosine")
SLACK = 8  # spare candidates per query, re-ranked exactly
BLOCK_BYTES = 32 * 2**20  # float64 reference block size when not given


@dataclass(frozen=True)
class Neighbours:
    distances: np.ndarray  # (n_queries, k) float64, ascending per row
    indices: np.ndarray  # (n_queries, k) int64 into the reference set


def _normalised(block: torch.Tensor, what: str, start: int) -> torch.Tensor:
    norms = block.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        row = start + int(torch.nonzero(norms[:, 0] == 0)[0, 0])
        raise ValueError(f"{what} vector {row} is all zeros: its cosine distance is undefined")
    return block / norms


def _block(x: np.ndarray, start: int, stop: int, metric: str, what: str, device: torch.device) -> torch.Tensor:
    block = torch.as_tensor(np.asarray(x[start:stop]), device=device).to(torch.float64)
    return _normalised(block, what, start) if metric == "cosine" else block


def nearest_neighbours(queries: np.ndarray, references: np.ndarray, k: int = 1, metric: str = "euclidean",
                       query_block: int = 1024, reference_block: int | None = None,
                       device: str = "cpu") -> Neighbours:
    """The k nearest references of each query: Euclidean distance, or cosine distance 1 − cos.
    ``reference_block`` None: as many rows as fit in `BLOCK_BYTES` as float64."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    if queries.ndim != 2 or references.ndim != 2 or queries.shape[1] != references.shape[1]:
        raise ValueError(f"queries {queries.shape} and references {references.shape} must be (n, d) with one d")
    n_q, n_r = len(queries), len(references)
    if n_r == 0:
        raise ValueError("the reference set is empty")
    if not 1 <= k <= n_r:
        raise ValueError(f"k = {k} must lie in 1..{n_r} (the number of references)")
    if reference_block is None:
        reference_block = max(1, BLOCK_BYTES // (8 * max(1, references.shape[1])))
    if query_block < 1 or reference_block < 1:
        raise ValueError("block sizes must be positive")
    dev = torch.device(device)
    keep = min(k + SLACK, n_r)
    out_d = np.empty((n_q, k), np.float64)
    out_i = np.empty((n_q, k), np.int64)
    for qs in range(0, n_q, query_block):
        q = _block(queries, qs, min(qs + query_block, n_q), metric, "query", dev)
        q_sq = torch.linalg.vector_norm(q, dim=1, keepdim=True).square()
        best_d = torch.full((len(q), 0), float("inf"), dtype=torch.float64, device=dev)
        best_i = torch.zeros((len(q), 0), dtype=torch.int64, device=dev)
        for rs in range(0, n_r, reference_block):
            r = _block(references, rs, min(rs + reference_block, n_r), metric, "reference", dev)
            if metric == "cosine":
                d = 1.0 - q @ r.T
            else:
                r_sq = torch.linalg.vector_norm(r, dim=1).square()  # no (rows × d) temporary
                d = (q_sq - 2.0 * (q @ r.T) + r_sq[None, :]).clamp_min_(0.0)
            idx = torch.arange(rs, rs + len(r), device=dev).expand(len(q), -1)
            # earlier candidates come first and the sort is stable: ties keep the lowest index
            cand_d, cand_i = torch.cat([best_d, d], 1), torch.cat([best_i, idx], 1)
            order = torch.sort(cand_d, dim=1, stable=True).indices[:, :keep]
            best_d, best_i = cand_d.gather(1, order), cand_i.gather(1, order)
        chosen = best_i.cpu().numpy()
        exact = _exact(queries[qs:qs + len(q)], references, chosen, metric)
        # exact distance first, then the lower index
        order = np.lexsort((chosen, exact), axis=1)[:, :k]
        out_i[qs:qs + len(q)] = np.take_along_axis(chosen, order, 1)
        out_d[qs:qs + len(q)] = np.take_along_axis(exact, order, 1)
    return Neighbours(out_d, out_i)


def _exact(queries: np.ndarray, references: np.ndarray, chosen: np.ndarray, metric: str) -> np.ndarray:
    """Distances of the chosen pairs from their differences, in float64."""
    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True) if metric == "cosine" else x

    # 1 − cos(a, b) = ||â − b̂||² / 2: no cancellation for near-copies (a copy is at exactly 0)
    q = unit(np.asarray(queries, np.float64))
    out = np.empty(chosen.shape, np.float64)
    for j in range(chosen.shape[1]):
        r = unit(np.asarray(references[chosen[:, j]], np.float64))
        diff = q - r
        squared = np.einsum("ij,ij->i", diff, diff)
        out[:, j] = squared / 2 if metric == "cosine" else np.sqrt(squared)
    return np.maximum(out, 0.0)


def brute_force(queries: np.ndarray, references: np.ndarray, k: int = 1, metric: str = "euclidean") -> Neighbours:
    """The whole distance matrix at once (scipy's cdist): the reference for tests and benchmarks."""
    from scipy.spatial.distance import cdist

    d = cdist(np.asarray(queries, np.float64), np.asarray(references, np.float64),
              "cosine" if metric == "cosine" else "euclidean")
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return Neighbours(np.take_along_axis(d, idx, 1), idx)
