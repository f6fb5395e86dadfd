from mtl_nlp.config import TaskConfig
from mtl_nlp.spans import entity_spans
from mtl_nlp.tasks.base import IGNORE_INDEX, decoded
from mtl_nlp.tasks.token_classification import TokenClassification, labels_as_iob2, to_iob2


def _task(**extra) -> TokenClassification:
    config = TaskConfig(name="ner", type="token_classification", labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
                        metric="seqeval", files={"train": "x"}, **extra)
    return TokenClassification(config)


def test_bioes_and_iob1_become_iob2():
    assert to_iob2(["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"], "bioes") == ["B-PER", "O", "B-LOC", "I-LOC", "I-LOC"]
    assert to_iob2(["I-PER", "I-PER", "I-LOC", "O", "I-LOC"], "iob1") == ["B-PER", "I-PER", "B-LOC", "O", "B-LOC"]
    assert to_iob2(["B-PER", "I-PER"], "bio") == ["B-PER", "I-PER"]
    assert labels_as_iob2(["O", "B-PER", "I-PER", "E-PER", "S-PER"], "bioes") == ["O", "B-PER", "I-PER"]
    assert labels_as_iob2(["O", "I-PER"], "iob1") == ["O", "I-PER", "B-PER"]


def test_entity_spans_are_those_strict_seqeval_counts():
    """A stray I- (after O, or after another type) starts no entity: strict IOB2 scoring ignores it too."""
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-PER", "O", "I-ORG", "I-ORG"]
    assert entity_spans(tags) == [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 5)]
    from mtl_nlp.metrics import compute

    gold = tags[:7] + ["B-ORG", "I-ORG"]
    scores = compute("seqeval", [tags], [gold], labels=[], negative_label=None)
    assert scores["per_type"]["ORG"]["recall"] == 0.0  # the metric does not count the stray I-ORG I-ORG as ORG either
    assert scores["precision"] == 1.0  # and every entity entity_spans shows is one the metric counts as found


def test_first_subword_is_labelled_and_the_rest_ignored(tiny_tokenizer):
    task = _task()
    out = task.preprocess({"tokens": [["john", "smithz", "lives"]], "tags": [["B-PER", "I-PER", "O"]]}, tiny_tokenizer)
    pieces = tiny_tokenizer.convert_ids_to_tokens(out["input_ids"][0])
    assert pieces[:3] == ["[CLS]", "john", "smith"] and pieces[3] == "##z"
    assert out["labels"][0] == [IGNORE_INDEX, 1, 2, IGNORE_INDEX, 0, IGNORE_INDEX]
    assert out["lost"] == [0]


def test_decode_reads_first_subwords_only():
    import torch

    task = _task()
    logits = torch.zeros(1, 6, 5)
    logits[0, 1, 1] = logits[0, 2, 2] = logits[0, 3, 3] = logits[0, 4, 0] = 1
    labels = torch.tensor([[IGNORE_INDEX, 1, 2, IGNORE_INDEX, 0, IGNORE_INDEX]])
    assert decoded(task, logits, {"labels": labels}) == [["B-PER", "I-PER", "O"]]


def test_check_catches_length_mismatch():
    assert "2 tokens but 1 tags" in _task().check({"tokens": ["a", "b"], "tags": ["O"]})


def test_viterbi_decoding_reads_first_subwords_and_never_breaks_iob2():
    import torch

    # two sentences; position 0 is [CLS], -100 marks sub-words after a word's first and padding
    labels = torch.tensor([[IGNORE_INDEX, 0, 0, IGNORE_INDEX, 0, IGNORE_INDEX], [IGNORE_INDEX, 0, 0, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]])
    logits = torch.full((2, 6, 5), -4.0)
    for row, position, tag, value in [(0, 1, 0, 2.0), (0, 2, 2, 2.0), (0, 2, 1, 1.5), (0, 3, 3, 9.0), (0, 4, 4, 2.0), (0, 4, 3, 1.8),
                                      (1, 1, 4, 3.0), (1, 1, 3, 2.5), (1, 2, 4, 2.0)]:
        logits[row, position, tag] = value
    batch = {"labels": labels}
    assert decoded(_task(), logits, batch) == [["O", "I-PER", "I-LOC"], ["I-LOC", "I-LOC"]]
    viterbi_task = _task(decoding="viterbi")
    assert decoded(viterbi_task, logits, batch) == [["O", "B-PER", "B-LOC"], ["B-LOC", "I-LOC"]]
    answers = viterbi_task.answers(logits, batch)
    assert [(e["type"], e["start"], e["end"]) for e in answers[1]["entities"]] == [("LOC", 0, 2)]


def _gold_logits(out: dict):
    """Logits that put each labelled sub-word's gold tag first: a model that is right wherever it reads."""
    import torch

    length = max(len(ids) for ids in out["input_ids"])
    logits = torch.zeros(len(out["input_ids"]), length, 5)
    for row, labels in enumerate(out["labels"]):
        for position, label in enumerate(labels):
            if label != IGNORE_INDEX:
                logits[row, position, label] = 5.0
    return logits


def _batch(out: dict) -> dict:
    import torch

    length = max(len(ids) for ids in out["input_ids"])
    labels = [row + [IGNORE_INDEX] * (length - len(row)) for row in out["labels"]]
    return {"labels": torch.tensor(labels), "window": torch.tensor(out["window"]), "own": torch.tensor(out["own"])}


def test_a_sentence_longer_than_max_length_is_read_in_windows_and_merged_whole(tiny_tokenizer):
    """Every word is labelled in some window, nothing is counted lost, and windows that each predict what they read
    merge into the sentence's own tags, an entity across a window seam included."""
    words = ["john", "smith", "lives", "in", "paris", "and", "john", "smith", "lives", "in", "new", "york", "with", "paris"] * 2
    tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-LOC"] * 2
    for decoding in ("argmax", "viterbi"):
        task = _task(max_length=10, stride=3, decoding=decoding)
        out = task.preprocess({"tokens": [words, ["paris"]], "tags": [tags, ["B-LOC"]]}, tiny_tokenizer)
        assert all(len(ids) <= 10 for ids in out["input_ids"])
        assert out["window"][0] == 0 and max(out["window"]) >= 3 and out["window"][-1] == 0  # the short one: one row
        assert sum(out["lost"]) == 0
        owned = [w for start, own_start, own_end in out["own"][:-1] for w in range(own_start, own_end)]
        assert owned == list(range(len(words)))
        assert decoded(task, _gold_logits(out), _batch(out)) == [tags, ["B-LOC"]]


def test_a_word_longer_than_max_length_and_a_word_the_tokenizer_drops_are_still_read(tiny_tokenizer):
    """An over-long word keeps its first sub-words (its window starts with it); a zero-width character, which the
    tokenizer would drop and so shift every later word's tag, is read as [UNK]."""
    task = _task(max_length=8, stride=2)
    words, tags = ["paris", "zzzzzzzzzzzzzzzzzzzzzzzz", "\u200b", "john"], ["O", "B-LOC", "O", "B-PER"]
    out = task.preprocess({"tokens": [words], "tags": [tags]}, tiny_tokenizer)
    assert sum(out["lost"]) == 0 and len(out["window"]) >= 2
    assert "[UNK]" in tiny_tokenizer.convert_ids_to_tokens([i for ids in out["input_ids"] for i in ids])
    assert decoded(task, _gold_logits(out), _batch(out)) == [tags]



def test_case_features_give_every_subword_its_words_casing_and_the_head_reads_it(tiny_tokenizer):
    import torch

    from mtl_nlp.casing import sentence_cases

    task = _task(case_features=True)
    out = task.preprocess({"tokens": [["John", "Smithz", "lives"], ["MAY"]], "tags": [["B-PER", "I-PER", "O"], ["O"]]},
                          tiny_tokenizer)
    first = sentence_cases(["John", "Smithz", "lives"])
    assert out["word_case"][0] == [0, first[0], first[1], first[1], first[2], 0]  # "smithz" is two sub-words
    batch = task.collator(tiny_tokenizer)([{k: out[k][i] for k in out if k != "lost"} for i in range(2)])
    assert batch["word_case"].shape == batch["input_ids"].shape == batch["labels"].shape
    short = out["word_case"][1]
    assert set(short[1:-1]) == {sentence_cases(["MAY"])[0]} and batch["word_case"][1].tolist() == short + [0] * (batch["word_case"].shape[1] - len(short))
    head = task.head(8).eval()
    hidden = torch.zeros(2, batch["input_ids"].shape[1], 8)
    logits = head(hidden, batch)
    assert logits.shape[-1] == 5 and not torch.equal(logits[0, 1], logits[0, 4])  # same states, another casing
    assert "word_case" not in _task().preprocess({"tokens": [["a"]], "tags": [["O"]]}, tiny_tokenizer)


def test_case_features_are_for_taggers_only():
    from mtl_nlp.tasks.sequence_classification import SequenceClassification

    config = TaskConfig(name="s", type="sequence_classification", labels=["a", "b"], metric="accuracy",
                        files={"train": "x"}, case_features=True)
    assert SequenceClassification.config_problems(config) == [
        ("case_features", "task type 'sequence_classification' does not read case_features; remove it")]
    problems = TaskConfig(name="n", type="token_classification", labels=["O"], metric="seqeval", files={"train": "x"},
                          case_features="yes").problems()
    assert [p.message for p in problems] == ["must be true or false, got 'yes'"]


def test_each_window_of_a_long_sentence_keeps_its_words_casing_in_the_sentence(tiny_tokenizer):
    """A later window's first word is not the sentence's first word: its casing id says so."""
    from mtl_nlp.casing import sentence_cases

    words = ["John", "Smith", "lives", "in", "Paris", "and", "MAY", "visit", "New", "York"] * 3
    out = _task(max_length=10, stride=3, case_features=True).preprocess({"tokens": [words], "tags": [["O"] * len(words)]},
                                                                         tiny_tokenizer)
    assert len(out["input_ids"]) > 2
    cases = sentence_cases(words)
    for row, (start, _, _) in enumerate(out["own"]):
        read = [c for c, label in zip(out["word_case"][row], out["labels"][row]) if label != IGNORE_INDEX]
        assert read == cases[start : start + len(read)]
