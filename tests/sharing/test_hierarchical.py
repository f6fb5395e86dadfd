import pytest
import torch

from mtl_nlp.errors import ConfigError
from mtl_nlp.sharing.layers import layer_stack
from sharing.helpers import batches, tiny_model


def test_a_task_reads_its_layer_and_nothing_above_it_runs(tiny_encoder_dir):
    model, tokenizer = tiny_model(tiny_encoder_dir, type="hierarchical", task_layers={"ner": 1})
    model.eval()
    _, stack = layer_stack(model.encoder)
    calls = []
    for number, layer in enumerate(stack, 1):
        layer.register_forward_hook(lambda module, args, out, number=number: calls.append(number))
    batch = batches(tokenizer)["ner"]
    full = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    calls.clear()
    hidden = model.encode("ner", **batch)
    assert calls == [1]
    torch.testing.assert_close(hidden, full.hidden_states[1], rtol=0, atol=1e-6)
    calls.clear()
    torch.testing.assert_close(model.encode("sent", **batch), full.last_hidden_state, rtol=0, atol=1e-6)
    assert calls == [1, 2]
    assert len(layer_stack(model.encoder)[1]) == 2  # the full stack is back after the short pass


def test_a_layer_past_the_top_is_a_config_error(tiny_encoder_dir):
    with pytest.raises(ConfigError, match=r"sharing.task_layers.ner: layer 3 does not exist; the encoder has layers 1 to 2"):
        tiny_model(tiny_encoder_dir, type="hierarchical", task_layers={"ner": 3})
