import pytest

from marsad.text.normalize import content_hash, normalize_for_matching, tokens


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("القُوَّاتُ الأَمْرِيكِيَّة", "القوات الامريكيه"),  # tashkeel, hamza, ta marbuta
        ("الانسحـــاب", "الانسحاب"),  # tatweel
        ("إعلان آخر أمس", "اعلان اخر امس"),  # alef forms
        ("مستشفى", "مستشفي"),  # alef maqsura
        ("عام ٢٠٢٤ و۲۰۲۵", "عام 2024 و2025"),  # Arabic-Indic and Persian digits
        ("واشنطن،بغداد؛طهران؟", "واشنطن بغداد طهران"),  # glued punctuation splits tokens
        ("«المقاومة» “الإسلامية”", "المقاومه الاسلاميه"),
        ("  US   Troops\tIN\nIraq ", "us troops in iraq"),
        ("\u200fبغداد\u200e", "بغداد"),  # bidi marks vanish without splitting
    ],
)
def test_normalisation(raw, expected):
    assert normalize_for_matching(raw) == expected


def test_punctuation_glued_to_arabic_tokens_does_not_change_the_hash():
    assert content_hash("قال: «الانسحاب»، ثم غادر.") == content_hash("قال الانسحاب ثم غادر")
    assert content_hash("قال الانسحاب ثم غادر") != content_hash("قال الانسحابثم غادر")


def test_tokens():
    assert tokens("العراق، وسوريا") == ["العراق", "وسوريا"]
    assert tokens("") == []
