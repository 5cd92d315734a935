"""Clinical-entity agreement of two reports, given their annotations: factENT (entity F1, seeds/000
§6.2 after ViLMedic) and the RadGraph F1 rewards (Jain et al. 2021; Delbrouck et al. 2022).

The annotators (Stanza's radiology NER, the RadGraph model) live in `models/report/`; these pure
functions take their output, so they are tested on fixed annotations against the reference
implementations (tests/test_rrg_scorers.py).

factENT, as ViLMedic's scorer computes it (quirks kept, so that numbers compare with the paper):
- the entities of a report are its single-token ANATOMY and OBSERVATION mentions, as a list
  (a word mentioned twice counts twice), from the report lower-cased with " ." → ".";
- precision = hypothesis entities found in the reference's entity set / hypothesis entities;
- recall = that same count / reference entities (ViLMedic reuses the hypothesis-side count, so
  recall can exceed 1 when the hypothesis repeats a matched entity; `symmetric=True` counts the
  reference entities found in the hypothesis instead);
- F1 = 2PR / (P + R), and 0 when either side has no entity.

factENTNLI (ViLMedic's entity-NLI scorer), per pair, from per-sentence entity lists and NLI labels:
each sentence of one report is paired with the sentence of the other report of highest BERTScore
F1, and an NLI model labels the pair (this sentence as the first text, its partner second). Every
entity of a sentence counts once in the denominator and matches when the label is entailment, or
when it is neutral and the entity occurs anywhere in the other report; contradicted sentences'
entities never match. Precision runs over the hypothesis sentences, recall over the reference
sentences; F1 = 2PR / (P + R), 0 when P or R is 0. A pair in which either report has no sentence is
left out of the mean (None), as ViLMedic skips it.

RadGraph rewards (`radgraph` 0.1.18's definitions): an annotation is {"entities": {id: {"tokens",
"label", "relations": [[relation, target id], ...]}}}; each side becomes a set of tuples and the
reward is the F1 of the two sets:
- simple: (tokens, label) for every entity;
- partial: (tokens, label) for entities without relations, (tokens, label, True) for those with;
- complete: (tokens, label) for entities without relations, and one (tokens, label, relation,
  target tokens) per relation, lower-cased (the reference lower-cases only these tuples: kept);
- 0 when either report has no entity. RoentGen's RadGraph column is the partial reward.

RadCliQ-v1's RadGraph F1 (CXR-Report-Metric's `radgraph_combined`) is another definition on the same
annotations: the mean of the entity F1, over the sets of (tokens, label), and the relation F1, over the
sets of ((tokens, label), (target tokens, target label), relation); an F1 is 0 when precision and recall
are both 0, including two reports without relations (so identical reports without relations score 0.5).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

LEVELS = ("simple", "partial", "complete")


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def entity_f1(hypothesis: Sequence[str], reference: Sequence[str], symmetric: bool = False) -> float:
    """factENT of one pair from its entity lists (see the module docstring)."""
    if not hypothesis or not reference:
        return 0.0
    ref_set, hyp_set = set(reference), set(hypothesis)
    matched = sum(1 for e in hypothesis if e in ref_set)
    recalled = sum(1 for e in reference if e in hyp_set) if symmetric else matched
    return _f1(matched / len(hypothesis), recalled / len(reference))


def _nli_side(sentences: Sequence[Sequence[str]], labels: Sequence[str], other: set[str]) -> float:
    total = matched = 0
    for entities, label in zip(sentences, labels):
        for entity in entities:
            total += 1
            matched += label == "entailment" or (label == "neutral" and entity in other)
    return matched / total if total else 0.0


def entity_nli_f1(hypothesis: Sequence[Sequence[str]], reference: Sequence[Sequence[str]],
                  hypothesis_labels: Sequence[str], reference_labels: Sequence[str]) -> float | None:
    """factENTNLI of one pair: per-sentence entity lists of both reports and, per sentence, the NLI label
    against its best-BERTScore partner in the other report (entailment, neutral, contradiction)."""
    if not hypothesis or not reference:
        return None
    if len(hypothesis_labels) != len(hypothesis) or len(reference_labels) != len(reference):
        raise ValueError("one NLI label per sentence is needed on each side")
    precision = _nli_side(hypothesis, hypothesis_labels, {e for s in reference for e in s})
    recall = _nli_side(reference, reference_labels, {e for s in hypothesis for e in s})
    return _f1(precision, recall) if precision > 0 and recall > 0 else 0.0


def _tuples(annotation: Mapping[str, Any], level: str) -> set[tuple]:
    entities = annotation.get("entities") or {}
    out: set[tuple] = set()
    for entity in entities.values():
        tokens, label, relations = entity["tokens"], entity["label"], entity.get("relations") or []
        if not relations or level == "simple":
            out.add((tokens, label))
        elif level == "partial":
            out.add((tokens, label, True))
        else:
            out.update((tokens.lower(), label, rel, entities[target]["tokens"].lower()) for rel, target in relations)
    return out


def _set_f1(hyp: set, ref: set) -> float:
    precision = len(hyp & ref) / len(hyp) if hyp else 0.0
    recall = len(hyp & ref) / len(ref) if ref else 0.0
    return _f1(precision, recall)


def radgraph_entity_relation_f1(hypothesis: Mapping[str, Any], reference: Mapping[str, Any]) -> tuple[float, float]:
    """(entity F1, relation F1) of one pair of RadGraph annotations, as CXR-Report-Metric defines them."""
    def sets(annotation: Mapping[str, Any]) -> tuple[set, set]:
        entities = annotation.get("entities") or {}
        nodes = {key: (e["tokens"], e["label"]) for key, e in entities.items()}
        edges = {(nodes[key], nodes[target], relation) for key, e in entities.items()
                 for relation, target in (e.get("relations") or []) if target in nodes}
        return set(nodes.values()), edges

    (h_ent, h_rel), (r_ent, r_rel) = sets(hypothesis), sets(reference)
    return _set_f1(h_ent, r_ent), _set_f1(h_rel, r_rel)


def radgraph_combined(hypothesis: Mapping[str, Any], reference: Mapping[str, Any]) -> float:
    """RadCliQ-v1's RadGraph F1: the mean of the entity and the relation F1."""
    return sum(radgraph_entity_relation_f1(hypothesis, reference)) / 2


def radgraph_reward(hypothesis: Mapping[str, Any], reference: Mapping[str, Any], level: str = "partial") -> float:
    """RadGraph F1 of one pair of annotations at `level` (simple, partial or complete)."""
    if level not in LEVELS:
        raise ValueError(f"RadGraph reward level {level!r} unknown; choose from {', '.join(LEVELS)}")
    if not (hypothesis.get("entities") and reference.get("entities")):
        return 0.0
    return _set_f1(_tuples(hypothesis, level), _tuples(reference, level))
