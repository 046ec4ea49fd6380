"""Precision and recall with 95% Wilson intervals, per language."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

Z95 = 1.959963984540054


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sensible at 0 and n, unlike Wald)."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Figures:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "positives": self.positives,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": round(self.precision, 4),
            "precision_ci95": [round(x, 4) for x in wilson(self.tp, self.tp + self.fp)],
            "recall": round(self.recall, 4),
            "recall_ci95": [round(x, 4) for x in wilson(self.tp, self.tp + self.fn)],
        }


def figures(gold: list[int], predicted: list[bool], languages: list[str]) -> dict[str, Figures]:
    """Confusion counts per language and for all items."""
    counts: dict[str, Counter] = {}
    for g, p, language in zip(gold, predicted, languages, strict=True):
        outcome = ("tp" if g else "fp") if p else ("fn" if g else "tn")
        for key in (language, "all"):
            counts.setdefault(key, Counter())[outcome] += 1
    return {key: Figures(**c) for key, c in counts.items()}


def format_table(title: str, table: dict[str, Figures]) -> list[str]:
    lines = [
        title,
        f"  {'lang':5s} {'n':>4s} {'pos':>4s} {'TP':>4s} {'FP':>3s} {'FN':>3s}"
        f"  {'precision [95% CI]':22s}  {'recall [95% CI]':22s}",
    ]
    for language in sorted(table, key=lambda lang: (lang == "all", lang)):
        f = table[language]
        p_low, p_high = wilson(f.tp, f.tp + f.fp)
        r_low, r_high = wilson(f.tp, f.tp + f.fn)
        lines.append(
            f"  {language:5s} {f.n:4d} {f.positives:4d} {f.tp:4d} {f.fp:3d} {f.fn:3d}"
            f"  {f.precision:.3f} [{p_low:.3f}, {p_high:.3f}]    "
            f"{f.recall:.3f} [{r_low:.3f}, {r_high:.3f}]"
        )
    return lines
