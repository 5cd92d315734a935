"""RaTEScore (Zhao et al. 2024; the `RaTEScore` package, which RadEval wraps): entity-level agreement of two
reports, robust to synonyms through entity embeddings and sensitive to negation through entity types.

Per report, a NER model (RaTE-NER) tags entities of five types: ABNORMALITY, ANATOMY, DISEASE and the negated
NON-ABNORMALITY, NON-DISEASE; each entity's text is embedded (BioLORD-2023-C, its [CLS] state). For a pair:

    side(A → B) = Σ_i sim_i · w(t_i, u_i) · ν(t_i, u_i) / Σ_i w(t_i, u_i)

over the entities i of A, with sim_i the cosine of entity i to its most similar entity of B, t_i its type,
u_i the type of that match, w the published type-affinity matrix and ν = the published negation weight when
one of the two is negated and the other is not (a NON- type against ABNORMALITY or DISEASE, either way
round), 1 otherwise. RaTEScore = 2·s₁·s₂ / (s₁ + s₂) with s₁ = side(reference → hypothesis) and
s₂ = side(hypothesis → reference); 0 when both sides are 0, and 0.5 when either report has no entity.
The corpus value is the mean over pairs. An exact tie for the most similar entity (the same entity text
twice in a report, with different types) goes to the first; the package's torch.topk picks one in an order
torch does not specify (on the committed test pairs with random models: 1 pair in 12, 0.011 apart).

The entity spans come from the BIO tags of one sentence's tokens as the package reads them (`entity_spans`):
its rules are kept, quirks included, so the same tags give the same entities.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

TYPES = ("ABNORMALITY", "ANATOMY", "DISEASE", "NON-ABNORMALITY", "NON-DISEASE")
# the package's "long" (its default) and "short" affinity matrices, keyed "first_second" by type, with
# the negation weight under "neg_weight" (RaTEScore 0.6.0, DEFAULT_MATRIX_LONG / DEFAULT_MATRIX_SHORT)
_AFFINITY_LONG = (
    0.4276119164393705, 0.6240929990607657, 0.0034478181112993847, 0.5431049700217344, 0.27005425386213877,
    0.7487824274337533, 0.2856134859160784, 0.4592143222158069, 0.02097055139911715, 0.00013736314126696204,
    0.8396510075734789, 0.9950209388542061, 0.8460555030578727, 0.9820689020512646, 0.3789136708096537,
    0.16546764653692908, 0.018670610691852826, 0.719397354576018, 0.0009357166071730684, 0.0927333564267591,
    0.7759420231214385, 0.1839139293714062, 0.10073046076318157, 0.03860183811876373, 0.34065681486566446)
_AFFINITY_SHORT = (
    0.4070293318365468, 0.6952639610605605, 0.28342529466226446, 0.9479148658006686, 0.23875064111146294,
    0.5829759950441763, 0.7709590751917746, 0.0006059634829551632, 0.794672584951181, 0.27982942400798977,
    0.8840397619834857, 0.9637659445696822, 0.19018958438059513, 0.6962283914800402, 0.943727057946997,
    0.1712744286898638, 0.4485149671497294, 0.00045065329822896076, 0.0007887930317199857, 0.8555432840895761,
    0.9555801066212176, 0.13122106162635216, 0.6072996585919443, 0.05650711141169969, 0.3214769399791204)
NEG_WEIGHT = {"long": 0.8716553966489615, "short": 0.3611577852354489}
AFFINITY = {name: {(a, b): v for (a, b), v in zip(((a, b) for a in TYPES for b in TYPES), values)}
            for name, values in (("long", _AFFINITY_LONG), ("short", _AFFINITY_SHORT))}
NEGATED = {("NON-DISEASE", "DISEASE"), ("NON-ABNORMALITY", "ABNORMALITY"), ("DISEASE", "NON-DISEASE"),
           ("ABNORMALITY", "NON-ABNORMALITY"), ("NON-DISEASE", "ABNORMALITY"), ("NON-ABNORMALITY", "DISEASE"),
           ("DISEASE", "NON-ABNORMALITY"), ("ABNORMALITY", "NON-DISEASE")}
NO_ENTITY = 0.5  # the package's score of a pair in which either report has no entity


def entity_spans(tokens: Sequence[str], tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(first, last, type) token spans of one sentence from its BIO tags, by the package's rules (tags may
    run past the tokens: the next position's tag is read, padded or not; [CLS] and [SEP] are skipped). A B-
    tag followed by B- or O is a one-token entity; followed by I- it opens one. An I- tag followed by B- or
    O closes the open entity (an I- after O opens nothing) and, before B-, opens one of its own type. An
    entity still open at the end runs to the token before the last, unless an entity had closed on a B- or
    I- tag before it (the package's `end` is then still set: that open entity is dropped)."""
    spans: list[tuple[int, int, str]] = []
    start: int | None = None
    end: int | None = None
    kind: str | None = None
    for i, (token, tag) in enumerate(zip(tokens, tags)):
        if token in ("[CLS]", "[SEP]") or tag == "O" or i >= len(tags) - 1:
            continue
        following = tags[i + 1]
        if tag.startswith("B-"):
            if following.startswith("I-"):
                start, kind = i, tag[2:]
            elif following.startswith("B-") or following.startswith("O"):
                spans.append((i, i, tag[2:]))
                end = i
                # a B- before another B- stays "open" in the package's bookkeeping; before O it is closed
                start, kind = (i, tag[2:]) if following.startswith("B-") else (None, None)
                if following.startswith("O"):
                    end = None
        elif tag.startswith("I-") and (following.startswith("B-") or following.startswith("O")):
            end = i
            if start is not None:
                spans.append((start, end, kind or ""))
            start, kind = (i, tag[2:]) if following.startswith("B-") else (None, None)
            if following.startswith("O"):
                end = None
    if start is not None and end is None:
        spans.append((start, len(tokens) - 2, kind or ""))
    return spans


def _side(sim: np.ndarray, first: Sequence[str], second: Sequence[str], affinity: Mapping[tuple[str, str], float],
          neg_weight: float) -> float:
    best = sim.argmax(axis=1)
    matched = [second[j] for j in best]
    weights = np.array([affinity[(a, b)] for a, b in zip(first, matched)])
    negation = np.array([neg_weight if (a, b) in NEGATED else 1.0 for a, b in zip(first, matched)])
    total = weights.sum()
    return float((sim[np.arange(len(first)), best] * weights * negation).sum() / total) if total else 0.0


def ratescore_pair(hyp_embeddings: np.ndarray, hyp_types: Sequence[str], ref_embeddings: np.ndarray,
                   ref_types: Sequence[str], affinity: str = "long") -> float:
    """RaTEScore of one pair from its entities' embeddings (n, d) and types (see the module docstring)."""
    if len(hyp_types) == 0 or len(ref_types) == 0:
        return NO_ENTITY
    table, neg = AFFINITY[affinity], NEG_WEIGHT[affinity]

    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    sim = unit(ref_embeddings) @ unit(hyp_embeddings).T  # (reference entities, hypothesis entities)
    a = _side(sim, ref_types, hyp_types, table, neg)
    b = _side(sim.T, hyp_types, ref_types, table, neg)
    return 2 * a * b / (a + b) if a + b else 0.0
