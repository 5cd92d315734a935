"""Exact top-k by similarity without ever forming the queries × candidates matrix: the engine of
CheXpert@k (each report's nearest other reports) and of retrieval (each generated image's nearest
real images or impressions).

- similarity "dot", "cosine" (rows normalised first, in row blocks) or "jaccard" (binary vectors,
  e.g. bag-of-words word sets, compared as intersection over union);
- most similar first; among equal similarities the earlier candidate (lower index) first, exactly:
  similarities are ranked in float32 by integer keys (similarity bits, then complemented index);
- one similarity per distinct candidate embedding, so duplicate candidates tie exactly in every chunk;
- queries go in blocks of `QUERY_BLOCK`, candidates in chunks of `CANDIDATE_CHUNK`, and a running
  top-k per query is merged chunk by chunk: memory O(block × chunk) whatever the sizes. Each chunk
  first keeps its k + `MARGIN` most similar by value; a query whose k-th value might have been cut
  that way (more than `MARGIN` ties) is redone exactly.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

SIMILARITIES = ("cosine", "dot", "jaccard")
QUERY_BLOCK = 512
CANDIDATE_CHUNK = 8192
MARGIN = 16  # candidates kept per chunk beyond k, so that ties at the k-th value are rarely cut


def _is_sparse(x: Any) -> bool:
    return hasattr(x, "tocsr") and hasattr(x, "nnz")


def prepare(embeddings: Any, similarity: str, what: str = "report") -> Any:
    """Checked float32 rows (normalised for cosine), or a binary CSR matrix for jaccard."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, not {similarity!r}")
    if similarity == "jaccard":
        from scipy import sparse

        x = sparse.csr_matrix(embeddings, dtype=np.float32)
        if x.nnz and not np.isin(x.data, (0.0, 1.0)).all():
            raise ValueError("jaccard similarity needs binary (0/1) vectors: the word sets of a bag of words")
        return x
    if _is_sparse(embeddings):
        embeddings = embeddings.toarray()
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (n, d), got shape {x.shape}")
    out = np.empty(x.shape, dtype=np.float32)
    for start in range(0, len(x), 8192):  # in row blocks: no float64 copy of a MIMIC-sized matrix at once
        block = np.asarray(x[start:start + 8192], dtype=np.float64)
        if not np.isfinite(block).all():
            bad = start + int(np.argwhere(~np.isfinite(block))[0, 0])
            raise ValueError(f"embedding of {what} {bad} has NaN or infinite values")
        if similarity == "cosine":
            norms = np.linalg.norm(block, axis=1)
            if (norms == 0).any():
                raise ValueError(f"embedding of {what} {start + int(np.argmax(norms == 0))} is all zeros: "
                                 "no cosine similarity")
            block = block / norms[:, None]
        out[start:start + len(block)] = block
    return out


def nearest_neighbours(embeddings: Any, k: int, similarity: str = "cosine",
                       progress: Callable[[int], None] | None = None) -> np.ndarray:
    """(n, min(k, n−1)) indices of each row's most similar *other* rows, most similar first."""
    x = prepare(embeddings, similarity)
    return _top_k(x, _Candidates(x, similarity), min(int(k), x.shape[0] - 1), exclude_self=True, progress=progress)


def top_k(queries: Any, candidates: Any, k: int, similarity: str = "cosine",
          progress: Callable[[int], None] | None = None) -> np.ndarray:
    """(n_queries, min(k, n_candidates)) indices of each query's most similar candidates, most similar first."""
    q = prepare(queries, similarity, "query")
    c = prepare(candidates, similarity, "candidate")
    if q.shape[1] != c.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dimensions, candidates {c.shape[1]}")
    return _top_k(q, _Candidates(c, similarity), min(int(k), c.shape[0]), exclude_self=False, progress=progress)


def _top_k(queries: Any, chunks: "_Candidates", k: int, exclude_self: bool,
           progress: Callable[[int], None] | None) -> np.ndarray:
    n = queries.shape[0]
    if k < 1:
        return np.zeros((n, 0), dtype=np.int64)
    out = np.empty((n, k), dtype=np.int64)
    for q0 in range(0, n, QUERY_BLOCK):
        q1 = min(n, q0 + QUERY_BLOCK)
        own = chunks.position[q0:q1] if exclude_self else None
        best, unsafe = _block_top_k(queries[q0:q1], own, chunks, k, margin=MARGIN)
        if unsafe.any():  # massive ties at the k-th value (duplicates): rank those queries exactly
            rows = np.nonzero(unsafe)[0]
            best[rows], _ = _block_top_k(queries[q0:q1][rows], None if own is None else own[rows], chunks, k,
                                         margin=None)
        out[q0:q1] = 0xFFFFFFFF - (best & 0xFFFFFFFF)
        if progress:
            progress(q1 - q0)
    return out


class _Candidates:
    """The candidate side, in chunks, and each chunk's similarities to a block of queries."""

    def __init__(self, x: Any, similarity: str):
        import torch

        self.similarity = similarity
        self.x = x
        n = x.shape[0]
        if similarity == "jaccard":
            self.sizes = np.asarray(x.sum(axis=1)).ravel()
            self.members = np.arange(n)
            self.bounds = [(c0, min(n, c0 + CANDIDATE_CHUNK)) for c0 in range(0, n, CANDIDATE_CHUNK)]
            self.slices = self.bounds
        else:
            # One similarity per distinct embedding: duplicates then tie exactly, in every chunk.
            distinct, self.groups = _distinct_rows(x)
            self.members = np.argsort(self.groups, kind="stable")  # grouped by embedding, then by index
            starts = np.searchsorted(self.groups[self.members], np.arange(distinct.shape[0] + 1))
            self.distinct = torch.from_numpy(np.ascontiguousarray(distinct))
            self.bounds = [(c0, min(len(distinct), c0 + CANDIDATE_CHUNK))
                           for c0 in range(0, len(distinct), CANDIDATE_CHUNK)]
            self.slices = [(int(starts[c0]), int(starts[c1])) for c0, c1 in self.bounds]
        self.position = np.empty(n, dtype=np.int64)
        self.position[self.members] = np.arange(n)  # where each candidate sits in the chunked order

    def similarities(self, queries: Any, chunk: int) -> Any:
        """(queries, candidates of the chunk) float32 similarities; those candidates are members[lo:hi]."""
        import torch

        c0, c1 = self.bounds[chunk]
        lo, hi = self.slices[chunk]
        if self.similarity == "jaccard":
            inter = (queries @ self.x[c0:c1].T).toarray().astype(np.float64)
            sizes = np.asarray(queries.sum(axis=1)).ravel()
            union = sizes[:, None] + self.sizes[None, c0:c1] - inter
            return torch.from_numpy(np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)).float()
        block = torch.from_numpy(np.ascontiguousarray(queries)) @ self.distinct[c0:c1].T
        if hi - lo == c1 - c0:  # no duplicates in this chunk: candidates are the distinct rows, in order
            return block
        return block[:, torch.from_numpy(self.groups[self.members[lo:hi]] - c0)]  # duplicates share one value


def _distinct_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``x`` and each row's group. Rows are told apart by a 128-bit digest of their
    bytes (no copy or sort of the whole matrix); without duplicates ``x`` itself is returned."""
    import hashlib

    digests = np.frombuffer(b"".join(hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in x),
                            dtype="V16")
    _, first, groups, counts = np.unique(digests, return_index=True, return_inverse=True, return_counts=True)
    if len(first) == len(x):
        return x, np.arange(len(x))
    groups = groups.ravel()
    representative = x[first]
    shared = counts[groups] > 1  # only duplicated rows need checking against their representative
    if not np.array_equal(representative[groups[shared]], x[shared]):  # a digest collision: astronomically unlikely
        raise RuntimeError("two different embeddings share a 128-bit digest; please report this")
    return representative, groups


def _block_top_k(queries: Any, own: np.ndarray | None, chunks: _Candidates, k: int,
                 margin: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Keys of the k most similar candidates of a block of queries (``own``: each query's position
    among the candidates, excluded) and which queries are unsafe.

    With a margin, each chunk first keeps its k + margin most similar candidates by value, and only
    those get exact (value, index) keys; a query is unsafe when a value equal to its final k-th one
    may have been cut that way, and is then redone exactly (margin None: keys for every candidate)."""
    import torch

    floor = torch.iinfo(torch.int64).min
    best = torch.full((queries.shape[0], k), floor, dtype=torch.int64)
    cut = torch.full((queries.shape[0],), float("-inf"))
    for chunk, (lo, hi) in enumerate(chunks.slices):
        sims = chunks.similarities(queries, chunk)
        if own is not None:
            mine = np.nonzero((own >= lo) & (own < hi))[0]
            sims[torch.from_numpy(mine), torch.from_numpy(own[mine] - lo)] = float("-inf")  # never oneself
        index = torch.from_numpy(chunks.members[lo:hi])
        if margin is not None and sims.shape[1] > k + margin:
            values, where = sims.topk(k + margin, dim=1, sorted=False)
            cut = torch.maximum(cut, values.min(dim=1).values)
            keys = _keys(values, index[where])
        else:
            keys = _keys(sims, index.expand_as(sims))
        best = torch.cat([best, keys], dim=1).topk(k, dim=1, sorted=False).values
    best = best.sort(dim=1, descending=True).values  # most similar first; keys are unique
    unsafe = (_values(best[:, -1]) <= cut).numpy()
    return best.numpy(), unsafe


def _keys(values: Any, index: Any) -> Any:
    """int64 keys whose integer order is (float32 value descending, then index ascending): IEEE
    float32 bits map to integers of the same order, the complemented index fills the low 32 bits.
    Oneself (−inf) is pushed below every real key."""
    import torch

    bits = values.to(torch.float32).contiguous().view(torch.int32).to(torch.int64)
    ordered = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    keys = (ordered << 32) | (0xFFFFFFFF - index.to(torch.int64))
    return torch.where(torch.isneginf(values), torch.iinfo(torch.int64).min, keys)


def _values(keys: Any) -> Any:
    """The float32 similarity inside keys (the inverse of `_keys`)."""
    import torch

    ordered = keys >> 32
    bits = torch.where(ordered < 0, ordered ^ 0x7FFFFFFF, ordered).to(torch.int32)
    return bits.view(torch.float32)
