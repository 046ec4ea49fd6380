"""Fit the topic's weights file from labelled articles (``marsad train topic``).

    marsad train topic --labels data/topic/labelled.jsonl [--split data/topic/split.json]
        [--topic T.yaml] [--output T.weights.json]

Only the tuning side of the split is used. The model is an L2-regularised logistic
regression over the features of ``marsad.topic.features`` (standardised while fitting,
then folded back into the features' own units), with balanced class weights, plus one
learned feature: the log-odds of a vocabulary model over the articles' words and word
pairs (``marsad.topic.vocabulary``), stacked — each tuning item's value comes from a
vocabulary model fitted on the other folds. Both
choices that could be tuned by hand are made by cross-validation on the tuning side
(stratified by language and label, 5 folds, fixed seed):

* the regularisation strength C, by the lowest out-of-fold log-loss;
* the threshold, on the out-of-fold probabilities of that C: the one that maximises the
  worst of precision and recall over the languages (the target is both >= 0.95 in each
  language), the middle of the plateau when several tie; then, for each language with at
  least ``MIN_PER_LANGUAGE`` items of each label, its own threshold chosen the same way on
  its own items (scores are not calibrated alike across languages). The shared one
  serves any other language.

scikit-learn is needed only here (``pip install 'marsad[train]'``); tagging reads the
weights file with plain Python.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from marsad.errors import InputError
from marsad.topic.definition import TopicDefinition
from marsad.topic.features import ArticleReader, feature_names
from marsad.topic.metrics import Figures, figures
from marsad.topic.model import TopicModel
from marsad.topic.vocabulary import FEATURE as VOCABULARY
from marsad.topic.vocabulary import MAX_TERMS, fit_vocabulary, words_of

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
MIN_PER_LANGUAGE = 30  # of each label, for a language to get its own threshold
VOCABULARY_C = 10.0  # the vocabulary model's own regularisation (docs/topic.md)
FOLDS = 5
SEED = 20260


def _sklearn():
    try:
        import sklearn
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold
    except ImportError:
        raise InputError(
            "training needs scikit-learn: pip install 'marsad[train]' (tagging does not)"
        ) from None
    return sklearn.__version__, LogisticRegression, StratifiedKFold


def matrix(definition: TopicDefinition, items: list[dict]) -> tuple[np.ndarray, list[str]]:
    """Feature matrix (items × features) in the order of :func:`feature_names`."""
    reader = ArticleReader(definition)
    names = feature_names(definition)
    column = {name: n for n, name in enumerate(names)}
    x = np.zeros((len(items), len(names)))
    for row, item in enumerate(items):
        values, _ = reader.features(reader.read(item.get("title") or "", item.get("text") or ""))
        for name, value in values.items():
            x[row, column[name]] = value
    return x, names


def choose_threshold(
    probabilities: np.ndarray, gold: np.ndarray, languages: list[str]
) -> tuple[float, float]:
    """(threshold, worst precision/recall over languages) — see the module doc."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    scores = []
    for threshold in grid:
        table = figures(list(gold), list(probabilities >= threshold), languages)
        worst = min(
            min(f.precision, f.recall) for lang, f in table.items() if lang != "all" and f.positives
        )
        scores.append(worst)
    best = max(scores)
    plateau = [t for t, s in zip(grid, scores, strict=True) if s >= best - 1e-9]
    return float(plateau[len(plateau) // 2]), float(best)


def _log_loss(gold: np.ndarray, probabilities: np.ndarray) -> float:
    p = np.clip(probabilities, 1e-9, 1 - 1e-9)
    return float(-np.mean(gold * np.log(p) + (1 - gold) * np.log(1 - p)))


def fit(
    definition: TopicDefinition,
    items: list[dict],
    provenance: dict | None = None,
    c_grid: tuple[float, ...] = C_GRID,
) -> tuple[TopicModel, dict]:
    """The fitted model and a report (chosen C and threshold, out-of-fold figures)."""
    version, LogisticRegression, StratifiedKFold = _sklearn()
    if len(items) < 20 or len({int(i["label"]) for i in items}) < 2:
        raise InputError("training needs at least 20 labelled items of both labels")
    x, names = matrix(definition, items)
    gold = np.array([int(i["label"]) for i in items])
    languages = [str(i.get("language") or "und") for i in items]
    strata = [f"{lang}:{label}" for lang, label in zip(languages, gold, strict=True)]
    smallest = min(strata.count(s) for s in set(strata))
    folds = StratifiedKFold(n_splits=max(2, min(FOLDS, smallest)), shuffle=True, random_state=SEED)
    splits = list(folds.split(x, strata))
    # Stacking: each item's vocabulary feature comes from a vocabulary model fitted on
    # the other folds, so the main model learns how far words fitted elsewhere carry.
    texts = [words_of(i.get("title") or "", i.get("text") or "") for i in items]
    vocabulary_column = np.zeros(len(items))
    for train, held in splits:
        fold_vocabulary = fit_vocabulary([texts[k] for k in train], list(gold[train]), VOCABULARY_C)
        for k in held:
            vocabulary_column[k] = fold_vocabulary.score(texts[k])[0]
    x = np.hstack([x, vocabulary_column[:, None]])
    names = [*names, VOCABULARY]
    mean, scale = x.mean(axis=0), x.std(axis=0)
    constant = scale < 1e-9  # a feature that never varies here cannot be weighed
    scale[constant] = 1.0
    z = (x - mean) / scale
    z[:, constant] = 0.0

    def model(c: float):
        return LogisticRegression(C=c, class_weight="balanced", max_iter=5000)

    out_of_fold: dict[float, np.ndarray] = {}
    losses: dict[float, float] = {}
    for c in c_grid:
        probabilities = np.zeros(len(items))
        for train, held in splits:
            fitted = model(c).fit(z[train], gold[train])
            probabilities[held] = fitted.predict_proba(z[held])[:, 1]
        out_of_fold[c] = probabilities
        losses[c] = _log_loss(gold, probabilities)
    best_c = min(c_grid, key=lambda c: (round(losses[c], 4), c))
    threshold, _ = choose_threshold(out_of_fold[best_c], gold, languages)
    # Each language with enough of both labels gets its own threshold, chosen the same way
    # on its own out-of-fold probabilities (the languages' scores are not calibrated alike).
    thresholds: dict[str, float] = {}
    for language in sorted(set(languages)):
        rows = [k for k, lang in enumerate(languages) if lang == language]
        labels = gold[rows]
        if min(int(labels.sum()), int(len(rows) - labels.sum())) >= MIN_PER_LANGUAGE:
            thresholds[language] = choose_threshold(
                out_of_fold[best_c][rows], labels, [language] * len(rows)
            )[0]
    cuts = np.array([thresholds.get(lang, threshold) for lang in languages])
    cv = figures(list(gold), list(out_of_fold[best_c] >= cuts), languages)
    worst = min(
        min(f.precision, f.recall) for lang, f in cv.items() if lang != "all" and f.positives
    )

    final = model(best_c).fit(z, gold)
    vocabulary = fit_vocabulary(texts, list(gold), VOCABULARY_C)
    weights = final.coef_[0] / scale
    # Fold the standardisation into the features' units; features most articles have
    # (present in over half the tuning items) keep their mean as centre (model.py).
    common = (x > 0).mean(axis=0) > 0.5
    centers = {n: float(mean[k]) for k, n in enumerate(names) if common[k] and weights[k]}
    intercept = float(final.intercept_[0] - np.sum(final.coef_[0] * mean / scale))
    intercept += sum(float(weights[names.index(n)]) * c for n, c in centers.items())
    by_language: dict[str, dict[str, int]] = {}
    for language, label in zip(languages, gold, strict=True):
        entry = by_language.setdefault(language, {"positives": 0, "negatives": 0})
        entry["positives" if label else "negatives"] += 1
    report = {
        "date": dt.date.today().isoformat(),
        "topic_sha256": definition.sha256,
        **(provenance or {}),
        "items": len(items),
        "by_language": by_language,
        "model": "L2 logistic regression, balanced class weights, standardised features",
        "vocabulary": {
            "model": "L2 logistic regression over tf-idf words and word pairs, stacked",
            "c": VOCABULARY_C,
            "max_terms": MAX_TERMS,
            "terms": len(vocabulary.terms),
        },
        "c": best_c,
        "cv": {
            "folds": len(splits),
            "seed": SEED,
            "log_loss_by_c": {str(c): round(loss, 4) for c, loss in losses.items()},
            "threshold_objective": "max over thresholds of min(precision, recall) over "
            "languages; then per language, the same on its own items",
            "thresholds": thresholds,
            "worst_precision_recall": round(worst, 4),
            "figures": {lang: f.to_json() for lang, f in sorted(cv.items())},
        },
        "features": len(names),
        "scikit_learn": version,
    }
    report_in_memory = {**report, "out_of_fold": dict(zip([i["id"] for i in items],
                                                          out_of_fold[best_c].tolist(), strict=True))}  # fmt: skip
    nonzero = {n: float(w) for n, w in zip(names, weights, strict=True) if not math.isclose(w, 0)}
    model_out = TopicModel(
        nonzero, intercept, threshold, definition.name, report, centers, vocabulary, thresholds
    )
    return model_out, report_in_memory


def cv_table(report: dict) -> dict[str, Figures]:
    """The cross-validated confusion counts recorded in a weights file."""
    table = {}
    for language, entry in (report.get("cv") or {}).get("figures", {}).items():
        table[language] = Figures(entry["tp"], entry["fp"], entry["fn"], entry["tn"])
    return table
