from mtl_nlp.casing import CASE_IDS, CASES, sentence_cases, subword_cases, word_case


def test_each_word_gets_its_casing_class():
    expected = {"apple": "lower", "Apple": "title", "I": "title", "APPLE": "upper", "iPhone": "mixed", "McDonald": "mixed",
                "1996": "number", "3-1": "number", "A4": "alphanumeric", "1990s": "alphanumeric", ",": "other", "--": "other",
                "über": "lower", "Ärzte": "title"}
    assert {w: CASES[word_case(w)] for w in expected} == expected


def test_the_first_word_and_a_headline_in_capitals_have_their_own_ids():
    n = len(CASES)
    lower, title, upper = (CASES.index(c) for c in ("lower", "title", "upper"))
    assert sentence_cases(["The", "Apple", "fell"]) == [title + n, title, lower]
    assert sentence_cases(["SOCCER", "-", "JAPAN", "WIN"]) == [upper + 3 * n, CASES.index("other") + 2 * n, upper + 2 * n, upper + 2 * n]
    assert sentence_cases(["1996", "-", "08"])[1] == CASES.index("other")  # no letters: not a headline
    assert all(0 < i < CASE_IDS for i in sentence_cases(["A", "b", "C1", "dD", "..."]))


def test_subwords_take_their_words_id_and_special_tokens_zero():
    cases = [5, 6, 7, 9]
    assert subword_cases([None, 0, 0, 1, None], cases) == [0, 5, 5, 6, 0]
    assert subword_cases([None, 0, 1, 1, None], cases, first_word=2) == [0, 7, 9, 9, 0]
