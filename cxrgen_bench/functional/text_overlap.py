"""N-gram overlap of generated and reference reports: corpus BLEU-4 and ROUGE-L (seeds/000 §6.2,
Table 4 top, after ViLMedic's scorers).

BLEU-4 follows pycocoevalcap's scorer, which ViLMedic wraps: tokens are the whitespace-separated
words as given (`corpus_bleu4` does not lower-case or split punctuation; the rrg metric first applies
`split_punctuation`, as report datasets are stored), n-gram counts are clipped by the
reference, the brevity penalty uses the corpus sums of hypothesis and "closest" reference lengths,
and the precisions carry pycocoevalcap's smoothing constants (1e-15 over 1e-9), so an n-gram order
with no match gives ~0 rather than an error. Corpus BLEU is not a mean of per-report values: each
report contributes 10 sufficient statistics (`bleu_stats`), and the corpus value (and every
bootstrap replicate) is computed from their (weighted) sums. The parity test runs pycocoevalcap.

BLEU-2 of RadCliQ-v1 (`radcliq_tokens`, `sentence_bleu`) is CXR-Report-Metric's: a sentence-level BLEU per
pair (fast-bleu, NLTK's definition with its smoothing "method1": an order without any match counts
0.1 matches; no unigram match gives 0), on tokens from the report lower-cased with "." → " ." and split
at single spaces (commas stay on their word). The parity test runs NLTK's `sentence_bleu`.

ROUGE-L is Google's `rouge-score` package (the library ViLMedic calls) with the Porter stemmer:
the mean over pairs of the longest-common-subsequence F-measure.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

import numpy as np

from ..errors import InputError

ORDER = 4
TINY, SMALL = 1e-15, 1e-9  # pycocoevalcap's smoothing of the precisions and of the length ratio
STATS = 2 + 2 * ORDER  # hypothesis length, reference length, guessed and correct n-grams per order


_PUNCT = re.compile(r"([.,;:!?()\[\]/\"])")


def split_punctuation(text: str) -> str:
    """Lower-case with punctuation as separate tokens ("Small effusion." → "small effusion ."), the form
    report-generation datasets are stored in (ViLMedic's preprocessing); `rrg[bleu4]` applies it to
    both sides before BLEU, so "effusion." and "effusion" are the same word."""
    return " ".join(_PUNCT.sub(r" \1 ", text.lower()).split())


def _pairs(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise InputError(f"{len(hypotheses)} hypotheses but {len(references)} references: they are scored in pairs")
    if not len(hypotheses):
        raise InputError("no report pairs to score")
    bad = [i for i, t in enumerate(list(hypotheses) + list(references)) if not isinstance(t, str)]
    if bad:
        i = bad[0]
        side, row = ("hypothesis", i) if i < len(hypotheses) else ("reference", i - len(hypotheses))
        raise InputError(f"{side} {row} is a {type((list(hypotheses) + list(references))[i]).__name__}, not a string")


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def bleu_stats(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """(n, 10) per pair: hypothesis length, reference length, then for n = 1..4 the number of
    hypothesis n-grams and the number matched (clipped by the reference's count)."""
    _pairs(hypotheses, references)
    out = np.zeros((len(hypotheses), STATS), dtype=np.float64)
    for row, (hyp, ref) in enumerate(zip(hypotheses, references)):
        h, r = hyp.split(), ref.split()
        out[row, 0], out[row, 1] = len(h), len(r)
        for k in range(1, ORDER + 1):
            hyp_counts, ref_counts = _ngrams(h, k), _ngrams(r, k)
            out[row, 1 + k] = max(len(h) - k + 1, 0)
            out[row, 1 + ORDER + k] = sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
    return out


def bleu_from_stats(totals: np.ndarray) -> np.ndarray:
    """Corpus BLEU-4 from summed statistics: (10,) → scalar array, or (B, 10) → (B,)."""
    totals = np.asarray(totals, dtype=np.float64)
    test, ref = totals[..., 0], totals[..., 1]
    guess, correct = totals[..., 2:2 + ORDER], totals[..., 2 + ORDER:]
    log_p = np.log((correct + TINY) / (guess + SMALL)).sum(axis=-1) / ORDER
    ratio = (test + TINY) / (ref + SMALL)
    brevity = np.where(ratio < 1, 1 - 1 / np.maximum(ratio, TINY), 0.0)
    return np.exp(log_p + brevity)


def corpus_bleu4(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus-level BLEU-4 of hypotheses against one reference each, as a fraction in [0, 1]."""
    return float(bleu_from_stats(bleu_stats(hypotheses, references).sum(axis=0)))


def radcliq_tokens(text: str) -> list[str]:
    """CXR-Report-Metric's BLEU tokens: lower-cased, "." split off, split at single spaces, empty ones dropped
    (a newline or tab stays inside its token, as there)."""
    return [t for t in text.lower().replace(".", " .").split(" ") if t]


def sentence_bleu(hypothesis: Sequence[str], reference: Sequence[str], order: int = 2,
                  epsilon: float = 0.1) -> float:
    """BLEU of one tokenised hypothesis against one reference, uniform weights over 1..order, NLTK's
    smoothing method1 (an order with no clipped match counts `epsilon` matches) and its brevity penalty."""
    if not hypothesis:
        return 0.0
    log_p = 0.0
    for k in range(1, order + 1):
        hyp_counts, ref_counts = _ngrams(list(hypothesis), k), _ngrams(list(reference), k)
        matched = sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
        if k == 1 and matched == 0:
            return 0.0  # no word in common: 0, before any smoothing
        total = max(1, sum(hyp_counts.values()))
        log_p += np.log((matched or epsilon) / total) / order
    c, r = len(hypothesis), len(reference)
    brevity = 1.0 if c > r else float(np.exp(1 - r / c))
    return float(np.exp(log_p) * brevity)


def radcliq_bleu2(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per pair BLEU-2 as RadCliQ-v1's `bleu_score` column."""
    _pairs(hypotheses, references)
    return np.array([sentence_bleu(radcliq_tokens(h), radcliq_tokens(r)) for h, r in zip(hypotheses, references)])


def rouge_l_scores(hypotheses: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per pair ROUGE-L F-measure (rouge-score, Porter stemmer)."""
    _pairs(hypotheses, references)
    try:
        from rouge_score import rouge_scorer
    except ImportError as exc:
        raise InputError("ROUGE-L needs the rouge-score package: pip install 'cxrgen-bench[rrg]'") from exc
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return np.array([scorer.score(ref, hyp)["rougeL"].fmeasure for hyp, ref in zip(hypotheses, references)])


def rouge_l(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L F over the pairs, as a fraction in [0, 1]."""
    return float(rouge_l_scores(hypotheses, references).mean())
