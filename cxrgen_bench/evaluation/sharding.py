"""Features computed before the metrics run, shared over the processes of a torchrun job.

One process: the features every declared request needs, each image decoded once for all backbones
(`features.compute`). Several processes (`distributed.process_group`):
1. each rank takes its share of each backbone's distinct images (`distributed.share`: by content, no
   padding, no duplicate), computes the rows its cache lacks and stores them;
2. the ranks agree that every share is done (`distributed.agree`): an image a rank could not read is
   named with its rank, and every rank stops before anything is written;
3. rank 0 lists the rows its own cache still lacks (none when the cache folder is shared) and the other
   ranks send those from theirs, a bounded number of rows at a time;
4. each set's statistics are the exact (Chan) merge of every rank's statistics of its share of the set,
   stored where `image_stats` finds them, so rank 0 never re-reads the set for a Fréchet distance.
Rank 0 then runs the metrics on a cache that holds everything; results equal a one-process run's up to
the summation order of the merged statistics (benchmarks/README.md, "Sharded scoring").
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..distributed import agree, broadcast, gather, share, world, active
from ..errors import CxrgenError, InputError, ModelUnavailable
from ..functional.frechet import FeatureStats
from .features import NAMESPACE, Extractor, compute, missing, stream_rows
from .requests import FeatureRequest, stats_key

if TYPE_CHECKING:  # for annotations only: the context calls this module, never the other way round
    from .context import EvaluationContext

SEND_ROWS = 2048  # rows per message from a rank to rank 0


def prefetch(ctx: EvaluationContext, requests: list[FeatureRequest]) -> None:
    here = world() if active() else None
    rank, size = (here.rank, here.size) if here else (0, 1)
    if not requests:
        return
    if not ctx.cache.enabled:
        if size > 1:
            raise InputError("a sharded run (torchrun) passes each rank's features to rank 0 through the cache: "
                             "drop --no-cache (use a fresh --cache-dir to recompute everything)")
        return  # one process without a cache: the metrics extract what they read
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for req in requests:
        groups.setdefault((req.backbone, req.preprocessing, req.layer), {}).update((r.sha256, r) for r in req.records)
    extractors: dict[tuple[str, str, str], Extractor] = {}
    failure = None
    try:
        jobs = []
        for (name, prep, layer), images in groups.items():
            try:
                ext = ctx.extractor(name, prep, layer)
            except ModelUnavailable:
                continue  # said once by the context; the metrics that need it record it
            extractors[(name, prep, layer)] = ext
            mine = set(share(list(images), rank, size))
            todo = missing([images[s] for s in sorted(mine)], ext, ctx.cache)
            if todo:
                jobs.append((ext, todo))
        what = f"features, {size} processes (rank {rank})" if size > 1 else "features (all backbones, one decode)"
        compute(jobs, ctx.cache, ctx.options.batch_size, ctx.options.workers, ctx.progress, what)
    except (CxrgenError, OSError) as exc:
        if size == 1:
            return  # the metrics meet the same problem and record it in their own entries, as without prefetch
        failure = str(exc)
    if size == 1:
        _single_process_stats(ctx, requests, extractors)
        return
    agree(failure)
    agree(_differs(sorted(extractors)))  # a backbone built on some ranks only: named, not guessed around
    _rows_to_root(ctx, groups, extractors, rank, size)
    _merged_stats(ctx, requests, extractors, rank, size)


def _differs(value: Any) -> str | None:
    """A failure string when this rank's ``value`` differs from rank 0's."""
    root = broadcast(value)
    return None if value == root else f"has the backbones {value}, rank 0 has {root} (weights missing on one node?)"


def _single_process_stats(ctx: EvaluationContext, requests: list[FeatureRequest],
                          extractors: dict[tuple[str, str, str], Extractor]) -> None:
    for req in requests:
        if req.stats and (req.backbone, req.preprocessing, req.layer) in extractors:
            ctx.image_stats(list(req.records), req.backbone, req.preprocessing, req.layer, req.what)


def _rows_to_root(ctx: EvaluationContext, groups: dict[tuple[str, str, str], dict[str, Any]],
                  extractors: dict[tuple[str, str, str], Extractor], rank: int, size: int) -> None:
    """Rows rank 0's cache lacks come from the ranks that computed them (nothing moves when ranks share
    the cache folder)."""
    for gkey, ext in sorted(extractors.items()):
        images = groups[gkey]
        lacking = [r.sha256 for r in missing(list(images.values()), ext, ctx.cache)] if rank == 0 else None
        lacking = broadcast(lacking)
        if not lacking:
            continue
        mine = set(share(list(images), rank, size))
        for start in range(0, len(lacking), SEND_ROWS):
            chunk = [s for s in lacking[start:start + SEND_ROWS] if s in mine and rank != 0]
            rows = ctx.cache.get_rows(NAMESPACE, ext.key, chunk, ext.shape)
            parts = gather([(s, row) for s, row in zip(chunk, rows) if row is not None])
            if rank == 0:
                ctx.cache.put_rows(NAMESPACE, ext.key, [pair for part in parts or [] for pair in part])
        if rank == 0:
            still = missing(list(images.values()), ext, ctx.cache)
            agree(f"rows of {len(still)} images never reached it, e.g. {still[0].path}" if still else None)
        else:
            agree(None)


def _merged_stats(ctx: EvaluationContext, requests: list[FeatureRequest],
                  extractors: dict[tuple[str, str, str], Extractor], rank: int, size: int) -> None:
    problem = None
    for req in requests:
        ext = extractors.get((req.backbone, req.preprocessing, req.layer))
        if not req.stats or ext is None:
            continue
        key = stats_key(ext, req.records)
        wanted = broadcast(ctx.cache.get_arrays("stats", key) is None if rank == 0 else None)
        if not wanted:
            continue
        mine = set(share([r.sha256 for r in req.records], rank, size))
        # duplicates of one image count as often as they appear, on the rank that owns the image
        records = [r for r in req.records if r.sha256 in mine]
        local = FeatureStats.empty(ext.shape[0]) if ext.shape else None
        for chunk in stream_rows(records, ext, ctx.cache):
            local = FeatureStats.from_features(chunk) if local is None else local.update(chunk)
        parts = gather(None if local is None else local.to_arrays())
        if rank == 0:
            merged = None
            for part in parts or []:
                if part is not None:
                    stats = FeatureStats.from_arrays(part)
                    merged = stats if merged is None else merged.merge(stats)
            if merged is not None and merged.n == len(req.records):
                ctx.cache.put_arrays("stats", key, merged.to_arrays())
            elif merged is not None:
                problem = problem or (f"merged statistics of {req.backbone} hold {merged.n} images, the set has "
                                      f"{len(req.records)}")
    agree(problem)
