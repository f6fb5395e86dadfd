import torch
from transformers import AutoModel, AutoTokenizer

from mtl_nlp.config import TaskConfig
from mtl_nlp.encoders import add_special_tokens, load_encoder
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.tasks import build_task

TASKS = [
    TaskConfig(name="ner", type="token_classification", labels=["O", "B-PER", "I-PER"], metric="seqeval", files={"train": "x"}),
    TaskConfig(name="rel", type="relation_classification", labels=["none", "works_for"], metric="relation_f1",
               negative_label="none", entity_types=["PER", "ORG"], files={"train": "x"}),
    TaskConfig(name="sent", type="sequence_classification", labels=["neg", "pos"], metric="accuracy", files={"train": "x"}),
    TaskConfig(name="rbert", type="relation_classification", labels=["none", "works_for"], metric="relation_f1",
               negative_label="none", files={"train": "x"}, relation_features=["markers", "sentence", "spans"]),
]


def _model(tiny_encoder_dir):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    add_special_tokens(tokenizer, encoder, [t for c in TASKS for t in build_task(c).special_tokens()])
    return MultiTaskModel.from_encoder(encoder, TASKS), tokenizer


def _batches(tokenizer):
    out = {}
    for config in TASKS:
        task = build_task(config)
        columns = {
            "rbert": {"tokens": [["john", "works", "for", "acme"]], "head": [{"start": 0, "end": 1}],
                      "tail": [{"start": 3, "end": 4}], "label": ["works_for"]},
            "ner": {"tokens": [["john", "lives"], ["paris"]], "tags": [["B-PER", "O"], ["O"]]},
            "rel": {"tokens": [["john", "works", "for", "acme"]], "head": [{"start": 0, "end": 1, "type": "PER"}],
                    "tail": [{"start": 3, "end": 4, "type": "ORG"}], "label": ["works_for"]},
            "sent": {"text": ["a great film", "awful"], "label": ["pos", "neg"]},
        }[config.name]
        encoded = task.preprocess(columns, tokenizer)
        encoded.pop("lost")
        rows = [{k: v[i] for k, v in encoded.items()} for i in range(len(encoded["input_ids"]))]
        out[config.name] = task.collator(tokenizer)(rows)
    return out


def test_pretrained_encoder_weights_survive_construction(tiny_encoder_dir):
    reference = AutoModel.from_pretrained(tiny_encoder_dir)
    model, _ = _model(tiny_encoder_dir)
    got = model.encoder.state_dict()
    compared = [name for name in reference.state_dict() if not name.startswith("pooler.") and "word_embeddings" not in name]
    assert compared and set(compared) <= set(got)  # the encoder drops only the pooler no head reads
    for name in compared:
        assert torch.equal(got[name], reference.state_dict()[name]), name


def test_save_load_round_trip_gives_identical_state_and_logits(tiny_encoder_dir, tmp_path):
    model, tokenizer = _model(tiny_encoder_dir)
    model.eval()
    batches = _batches(tokenizer)
    before = {name: model(task=name, **batch).logits for name, batch in batches.items()}
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and not list(tmp_path.glob("*.bin"))

    loaded = MultiTaskModel.from_pretrained(tmp_path).eval()
    assert isinstance(AutoModel.from_pretrained(tmp_path), MultiTaskModel)
    assert loaded.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    assert [t.name for t in loaded.config.task_configs()] == ["ner", "rel", "sent", "rbert"]
    assert "heads.rbert.projections.spans.weight" in loaded.state_dict()
    assert loaded.config.task_configs()[1].entity_types == ["PER", "ORG"]
    reloaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert "[E1:PER]" in reloaded_tokenizer.get_vocab()
    for name, batch in _batches(reloaded_tokenizer).items():
        # Same weights, same inputs; only the memory alignment of loaded tensors can change a float's last bit.
        torch.testing.assert_close(loaded(task=name, **batch).logits, before[name], rtol=0, atol=1e-6)


def test_one_encoder_pass_can_serve_every_head(tiny_encoder_dir):
    model, tokenizer = _model(tiny_encoder_dir)
    model.eval()
    batch = _batches(tokenizer)["sent"]
    hidden = model.encode_tasks(["sent", "ner"], **batch)
    assert hidden["sent"] is hidden["ner"]  # hard sharing: one pass
    assert torch.equal(model(task="sent", hidden_states=hidden["sent"], **batch).logits, model(task="sent", **batch).logits)
    assert model(task="ner", hidden_states=hidden["ner"], **batch).logits.shape[:2] == batch["input_ids"].shape
