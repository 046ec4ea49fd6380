"""The content hash is computed once, from the tokens the fingerprint normalised, and
equals ``textnorm.content_hash`` of the text that is stored, whatever cleaning did."""

from __future__ import annotations

from dataclasses import replace

import pytest

from marsad.dedup.neardup import NearDupConfig
from marsad.text.normalize import content_hash
from schemas.records import Article
from transforms.dedup_records import clean_and_fingerprint

BODY = "\n".join(
    f"Paragraph {i}: the coalition said the advisers would leave Baghdad by September, "
    "officials told reporters on Tuesday."
    for i in range(5)
)
TEXTS = {
    "clean": BODY,
    "boilerplate": BODY + "\nFollow us on Twitter\nAll rights reserved ©",
    "repeated": BODY + "\n" + BODY.splitlines()[1],
    "arabic": "قالت القوات الأمريكية إنها ستغادر العراق.\nتابعنا على فيسبوك",
    "symbols": "--- | ---",
}


@pytest.mark.parametrize("name", sorted(TEXTS))
@pytest.mark.parametrize("rewrite", [True, False])
@pytest.mark.parametrize("strip", [True, False])
def test_the_hash_is_the_stored_texts(name, rewrite, strip):
    config = replace(NearDupConfig(), rewrite_text=rewrite, strip_boilerplate=strip)
    article = Article("a_1", "u", "u", "outlet", "f", "r", text=TEXTS[name])
    stored, _cleaned, _fp = clean_and_fingerprint(article, (), config, None)
    assert stored.content_hash == content_hash(stored.text)
    if rewrite and strip and name in ("boilerplate", "repeated"):
        assert stored.text != TEXTS[name]  # the cleaned text is what was hashed
