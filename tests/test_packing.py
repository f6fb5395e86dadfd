import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel

from mtl_nlp.config import TaskConfig
from mtl_nlp.errors import ConfigError
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.packing import (
    PACKED_KEYS,
    check_packing,
    computed_tokens,
    encoder_inputs,
    pack_batch,
    pack_rows,
    packing_collator,
    unpack,
)
from mtl_nlp.trainer import train
from mtl_nlp.validation import validate_run

SENT = TaskConfig(name="sent", type="sequence_classification", labels=["neg", "pos"], metric="accuracy", files={"train": "x"})


def _batch(lengths: list[int], width: int, left: bool = False) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids, mask = torch.zeros(len(lengths), width, dtype=torch.long), torch.zeros(len(lengths), width, dtype=torch.long)
    for i, n in enumerate(lengths):
        where = slice(width - n, width) if left else slice(0, n)
        ids[i, where] = torch.randint(1, 90, (n,), generator=generator)
        mask[i, where] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.randint(0, 2, ids.shape, generator=generator) * mask}


def _encoder(kernel: str = "sdpa", cls=BertModel, config=BertConfig) -> torch.nn.Module:
    torch.manual_seed(0)
    return cls(config(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                      max_position_embeddings=64, attn_implementation=kernel)).eval()


def test_rows_hold_every_example_once_within_the_width():
    lengths = [5, 12, 3, 7, 9, 2, 12, 1]
    rows = pack_rows(lengths, 12)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 12 for row in rows)
    assert len(rows) == 5  # 51 tokens: two full rows of 12 alone, then 27 in three rows


@pytest.mark.parametrize("kernel", ["sdpa", "eager"])
@pytest.mark.parametrize("left", [False, True])
def test_packed_states_equal_the_padded_ones(kernel, left):
    encoder, batch = _encoder(kernel), _batch([5, 12, 3, 7, 9, 2], 12, left=left)
    packed = pack_batch(batch)
    assert packed["packed_input_ids"].shape == (4, 12) and computed_tokens({**batch, **packed}) == 48
    with torch.no_grad():
        padded = encoder(**batch).last_hidden_state
        states = unpack(encoder(**encoder_inputs(packed, kernel, torch.float32)).last_hidden_state,
                        packed["packed_index"], batch["attention_mask"].shape)
    mask = batch["attention_mask"].bool()
    assert torch.allclose(states[mask], padded[mask], atol=1e-5)
    assert torch.count_nonzero(states[~mask]) == 0  # padding reads zeros, which every head masks


def test_gradients_flow_back_through_the_unpacking():
    encoder, batch = _encoder(), _batch([4, 6, 2], 6)
    packed = pack_batch(batch)
    states = unpack(encoder(**encoder_inputs(packed, "sdpa", torch.float32)).last_hidden_state, packed["packed_index"], (3, 6))
    states[batch["attention_mask"].bool()].sum().backward()
    assert encoder.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_a_kernel_without_dense_masks_is_a_config_error():
    with pytest.raises(ConfigError, match="flash_attention_2.*pack_sequences: false"):
        encoder_inputs(pack_batch(_batch([2, 3], 3)), "flash_attention_2", torch.float32)


def test_the_collator_adds_packed_inputs_to_the_padded_batch():
    collate = packing_collator(lambda rows: _batch([len(r) for r in rows], max(len(r) for r in rows)))
    batch = collate([[1, 2], [3], [4, 5, 6]])
    assert set(PACKED_KEYS) <= set(batch) and batch["input_ids"].shape == (3, 3) and batch["packed_input_ids"].shape == (2, 3)


def test_the_model_encodes_packed_batches_as_padded_ones_and_checks_its_encoder():
    model = MultiTaskModel.from_encoder(_encoder(), [SENT]).eval()
    batch = {**_batch([3, 8, 5, 2], 8), **pack_batch(_batch([3, 8, 5, 2], 8))}
    check_packing(model, "sent", batch)  # BERT: the same states
    padded = model.encode_tasks(["sent"], **{k: v for k, v in batch.items() if k not in PACKED_KEYS})["sent"]
    mask = batch["attention_mask"].bool()
    assert torch.allclose(model.encode_tasks(["sent"], **batch)["sent"][mask], padded[mask], atol=1e-5)
    # RoBERTa numbers positions from the padding id on: packed positions from 0 give other states, so it is refused
    roberta = MultiTaskModel.from_encoder(_encoder(cls=RobertaModel, config=RobertaConfig), [SENT])
    with pytest.raises(ConfigError, match="RobertaModel.*pack_sequences: false"):
        check_packing(roberta, "sent", batch)


def test_packed_training_learns_what_padded_training_learns(tiny_run, tiny_encoder_dir, tmp_path):
    """Without dropout, a packed run's weights equal the padded run's: the same batches, the same gradients."""
    config = BertConfig.from_pretrained(tiny_encoder_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    encoder_dir = tmp_path / "no_dropout"
    BertModel.from_pretrained(tiny_encoder_dir, config=config).save_pretrained(encoder_dir)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_encoder_dir / name).exists():
            (encoder_dir / name).write_bytes((tiny_encoder_dir / name).read_bytes())
    weights = {}
    for pack in (False, True):
        run = validate_run(tiny_run(encoder=str(encoder_dir), output_dir=str(tmp_path / f"pack-{pack}"),
                                    train={"pack_sequences": pack, "max_steps": 4}))
        run.tasks = [t for t in run.tasks if t.name != "demo_relation"]
        for task in run.tasks:
            task.head_dropout = 0.0
        out = train(run)
        weights[pack] = load_file(str(out / "model.safetensors"))
        assert json.loads((out / "metrics.json").read_text())["steps"] == 4
    assert weights[True].keys() == weights[False].keys()
    for key in weights[False]:
        assert torch.allclose(weights[True][key], weights[False][key], atol=1e-5), key


@pytest.mark.parametrize("sharing", [{"type": "hard"}, {"type": "lora", "r": 2}, {"type": "soft", "copy": "lora"},
                                     {"type": "hierarchical", "task_layers": {"sent": 1, "other": 2}}, {"type": "attention"}])
def test_every_sharing_strategy_encodes_packed_batches_as_padded_ones(sharing):
    from mtl_nlp.config import SharingConfig

    model = MultiTaskModel.from_encoder(_encoder(), [SENT, dataclasses.replace(SENT, name="other")], SharingConfig(**sharing))
    trainable = [p.requires_grad for p in model.parameters()]
    check_packing(model, "sent", {**_batch([3, 8, 5, 2], 8), **pack_batch(_batch([3, 8, 5, 2], 8))})
    assert [p.requires_grad for p in model.parameters()] == trainable  # choosing a task's adapter froze the others


def test_by_default_a_run_packs_where_its_encoder_allows_and_says_which(tiny_run, caplog, monkeypatch):
    import logging

    from mtl_nlp import trainer
    from mtl_nlp.config import TrainConfig

    assert TrainConfig().pack_sequences is None
    with caplog.at_level(logging.INFO, logger="mtl_nlp.trainer"):
        train(validate_run(tiny_run(train={"max_steps": 1, "eval_every": 1})))
        assert "packed batches" in caplog.text

        def disagree(*args):
            raise ConfigError("train.pack_sequences: the encoder's states differ")

        monkeypatch.setattr(trainer, "check_packing", disagree)  # as RoBERTa's would (tested above)
        caplog.clear()
        train(validate_run(tiny_run(train={"max_steps": 1, "eval_every": 1})))
        assert "padded batches: train.pack_sequences: the encoder's states differ" in caplog.text
    with pytest.raises(ConfigError, match="states differ"):
        train(validate_run(tiny_run(train={"max_steps": 1, "eval_every": 1, "pack_sequences": True})))
    with pytest.raises(ConfigError, match="must be true or false"):
        validate_run(tiny_run(train={"pack_sequences": "yes"}))
