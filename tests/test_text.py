from mtl_nlp.text import parse_marked, words


def test_words_split_punctuation():
    assert words("Acme's CEO, Anna Smith-Jones, left.") == ["Acme's", "CEO", ",", "Anna", "Smith-Jones", ",", "left", "."]


def test_parse_marked_spans_and_types():
    tokens, head, tail = parse_marked("The <e2:ORG>Acme Corp</e2> hired <e1>Anna</e1> .")
    assert tokens == ["The", "Acme", "Corp", "hired", "Anna", "."]
    assert head == {"start": 4, "end": 5} and tail == {"start": 1, "end": 3, "type": "ORG"}
    assert parse_marked("no markup here") is None
    assert parse_marked("<e1>only one</e1>") is None
