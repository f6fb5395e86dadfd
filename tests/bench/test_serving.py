from conftest import REPO
from mtl_nlp.bench.serving import measure_serving, semeval_texts, serving_table

SEMEVAL = """1\t"The <e1>author</e1> of a keygen uses a <e2>disassembler</e2> to look at the raw code."
Instrument-Agency(e2,e1)
Comment:

2\t"A <e1>misty ridge</e1> uprises from the <e2>surge</e2>."
Other
Comment:

3\t"The <e1>student</e1> <e2>association</e2> is the voice of the students."
Member-Collection(e1,e2)
Comment:
"""


def test_semeval_texts_keep_their_markup(tmp_path):
    (tmp_path / "dev.txt").write_text(SEMEVAL)
    assert semeval_texts(tmp_path / "dev.txt", 2) == [
        "The <e1>author</e1> of a keygen uses a <e2>disassembler</e2> to look at the raw code.",
        "A <e1>misty ridge</e1> uprises from the <e2>surge</e2>.",
    ]


def test_every_system_serves_every_text_in_its_own_process(tmp_path, tiny_encoder_dir):
    (tmp_path / "data" / "semeval2010_task8").mkdir(parents=True)
    (tmp_path / "data" / "semeval2010_task8" / "dev.txt").write_text(SEMEVAL)
    result = measure_serving(str(tiny_encoder_dir), REPO / "task_configs", tmp_path / "data", texts=3, rounds=1, batch_size=2,
                             out_dir=tmp_path / "out")
    assert result["texts"] == 3 and set(result["systems"]) == {"ours_joint", "ours_marked", "baseline"}
    assert all(r["texts"] == 3 and r["seconds"] > 0 for r in result["rounds_raw"][0].values())
    marked = result["systems"]["ours_marked"]
    assert marked["relations_per_text"] == 1  # the marked pair of every text is classified
    joint = result["systems"]["ours_joint"]
    assert joint["speed_ratio"] == joint["speed_ratio_per_round"][0] > 0 and joint["memory_ratio"] > 0
    text = serving_table(result)
    assert "three Transformers models, one after another" in text and f"{joint['speed_ratio']:.2f}" in text
