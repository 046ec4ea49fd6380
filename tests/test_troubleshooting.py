"""docs/troubleshooting.md covers every reason code marsad can write or print, and the
exit codes documented in README, ``marsad run --help`` and the code agree."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.exits import EXIT_CODES_HELP, ExitCode

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
# reason="x" / reason = "x" (classes and calls), reason=f"http_{...}", and the feed
# parser's _problem(fetch, position, "x", ...).
PATTERNS = [
    re.compile(r"""\breason\s*=\s*f?["']([a-z][a-z0-9_]*)(?:\{[^}]*\})?["']"""),
    re.compile(r"""_problem\(\s*[^,()]+,\s*[^,()]+,\s*["']([a-z][a-z0-9_]*)["']"""),
]


def reason_codes() -> set[str]:
    found = {"internal_error"}
    for folder in ("marsad", "pipeline", "transforms", "schemas"):
        for path in (ROOT / folder).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            for pattern in PATTERNS:
                for match in pattern.finditer(source):
                    code = match.group(1)
                    found.add("http_<status>" if match.group(0).count("{") else code)
    return found


def test_every_reason_code_is_explained():
    codes = reason_codes()
    assert {"dns_error", "robots_unavailable", "option_unknown", "http_<status>"} <= codes
    missing = sorted(code for code in codes if f"`{code}`" not in DOC)
    assert not missing, (
        f"reason codes without an entry in docs/troubleshooting.md: {missing} — add a row "
        "saying what each means, its usual causes and what to do"
    )


def test_exit_codes_agree_in_code_help_readme_and_doc():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert re.search(rf"^\s+{int(code)}\s", EXIT_CODES_HELP, re.M), code
        assert re.search(rf"^\| {int(code)} \|", DOC, re.M), code
        assert re.search(rf"^\| {int(code)} \|", readme, re.M), code
