import json

from mtl_nlp.demo_data import write_demo_data


def test_seeded_and_well_formed(tmp_path):
    a = write_demo_data(tmp_path / "a", seed=5, train_size=30, dev_size=10)
    b = write_demo_data(tmp_path / "b", seed=5, train_size=30, dev_size=10)
    for name in ("ner/train.txt", "relation/dev.jsonl", "sentiment/train.tsv"):
        assert (a / name).read_text() == (b / name).read_text()
    assert (write_demo_data(tmp_path / "c", seed=6, train_size=30, dev_size=10) / "ner/train.txt").read_text() != (
        a / "ner/train.txt"
    ).read_text()
    rows = [json.loads(line) for line in (a / "relation/train.jsonl").read_text().splitlines()]
    assert len(rows) == 30
    for row in rows:
        head, tail = row["head"], row["tail"]
        for span in (head, tail):
            assert 0 <= span["start"] < span["end"] <= len(row["tokens"])
        assert head["end"] <= tail["start"] or tail["end"] <= head["start"]  # the two spans do not overlap
    assert (a / "sentiment/dev.tsv").read_text().count("\n") == 11
