"""How the scorer does on the *next* batch of labels: forward-chaining over the rounds.

    .venv/bin/python data/topic/forward_eval.py [--from-stage K] [--json-out FILE]

Cross-validation mixes every round into every fold, so each fold's model has seen
articles of the very kinds (outlets, searches, periods) it is scored on. The product is
judged on articles from outlets and searches the project never saw, which is what each
new labelling round was when it arrived (its "before use" figures in docs/topic.md).
This script repeats that for every round at once, on the **tuning side only** (no
held-out item is fitted or scored): for each stage k of ``split.json``'s ``fixed`` list
from ``--from-stage`` on, the weights are fitted by ``marsad.topic.train.fit`` (the same
code as ``marsad train topic``: C and thresholds by cross-validation) on the tuning items
of the stages before k, and the tuning items of stage k are tagged with them. The
figures are pooled over the stages, per language, with 95% Wilson intervals.

Stages are recovered from the corpus's order: ``build_corpus.py --extend`` appends each
round's items, and ``fixed`` records how many items each stage assigned, in order (the
counts must add up to the corpus). The first rounds were built together from label files
read in name order, not in the order of their stages, so only the stages from which each
one holds exactly the number of held-out items ``fixed`` records for it are scored
(``first_ordered_stage``; in the project's corpus, stage 11 on: the rounds of 2026-12-01
afternoon and later); the stages before them are only fitted on.

Unlike the "before use" figures, every stage is scored with today's topic file, which
was written knowing all of them: the figures are an upper bound on what a new round
would see, and a fair comparison between two ways of fitting.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from marsad.topic.corpus import DEFAULT_CORPUS, DEFAULT_SPLIT, load_corpus  # noqa: E402
from marsad.topic.definition import TopicDefinition  # noqa: E402
from marsad.topic.metrics import figures, format_table  # noqa: E402
from marsad.topic.tagger import TopicTagger  # noqa: E402
from marsad.topic.train import fit  # noqa: E402


def stages_of(items: list[dict], split: dict) -> list[int]:
    """The labelling stage of each corpus item, from the split's per-stage counts."""
    stage: list[int] = []
    for number, entry in enumerate(split["fixed"]):
        stage += [number] * int(entry["assigned"])
    if len(stage) != len(items):
        raise SystemExit(
            f"split.json's stages assign {len(stage)} items, the corpus has {len(items)}: "
            "the corpus is not in the order its rounds were added"
        )
    return stage


def first_ordered_stage(items: list[dict], split: dict, stage: list[int]) -> int:
    """The first stage from which every stage holds, where the corpus's order puts it,
    as many held-out items as ``fixed`` says it assigned. A stage of items gathered from
    elsewhere in the corpus would almost always hold another number; the check can miss
    stages mixed with each other in equal parts, so it is necessary, not sufficient."""
    test = set(split["test"])
    found = Counter(s for item, s in zip(items, stage, strict=True) if item["id"] in test)
    first = len(split["fixed"])
    for k in reversed(range(len(split["fixed"]))):
        if found[k] != int(split["fixed"][k]["test"]):
            break
        first = k
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", default=str(DEFAULT_CORPUS))
    parser.add_argument("--split", default=str(DEFAULT_SPLIT))
    parser.add_argument(
        "--from-stage", type=int, help="first stage scored (default: the first in order)"
    )
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)

    corpus = load_corpus(args.labels)
    if corpus.skipped:
        raise SystemExit(f"items skipped ({corpus.skipped}): the stages would not line up")
    split = json.loads(Path(args.split).read_text(encoding="utf-8"))
    tuning = set(split["tuning"])
    items = corpus.items
    stage = stages_of(items, split)
    ordered = first_ordered_stage(items, split, stage)
    start = ordered if args.from_stage is None else args.from_stage
    if start < ordered:
        raise SystemExit(f"stages before {ordered} are not in corpus order: cannot score them")
    definition = TopicDefinition.load()
    gold, predicted, languages, rows = [], [], [], []
    for k in range(start, len(split["fixed"])):
        train = [it for it, s in zip(items, stage, strict=True) if s < k and it["id"] in tuning]
        scored = [it for it, s in zip(items, stage, strict=True) if s == k and it["id"] in tuning]
        if not scored:
            continue
        model, report = fit(definition, train)
        tagger = TopicTagger(definition, model, None)
        for item in scored:
            language = item.get("language") or ""
            tags = tagger.tag(
                item.get("title") or "", item["text"], language=language, detect_language=False
            )
            gold.append(int(item["label"]))
            predicted.append(bool(tags.is_relevant))
            languages.append(language)
        last = slice(len(gold) - len(scored), len(gold))
        stage_table = figures(gold[last], predicted[last], languages[last])
        rows.append(
            {
                "stage": k,
                "fitted_on": len(train),
                "scored": len(scored),
                "c": report["c"],
                "thresholds": report["cv"]["thresholds"],
                "figures": {lang: f.to_json() for lang, f in sorted(stage_table.items())},
            }
        )
        print(f"stage {k}: fitted on {len(train)}, scored {len(scored)}", flush=True)
    table = figures(gold, predicted, languages)
    title = f"forward-chaining, stages {start}+ (tuning side only), pooled"
    print("\n" + "\n".join(format_table(title, table)))
    if args.json_out:
        pooled = {lang: f.to_json() for lang, f in sorted(table.items())}
        Path(args.json_out).write_text(json.dumps({"pooled": pooled, "stages": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
