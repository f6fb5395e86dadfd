import itertools

import torch

from mtl_nlp.config import SharingConfig
from mtl_nlp.encoders import load_encoder
from mtl_nlp.sharing.soft import SoftSharing
from sharing.helpers import batches, loss, perturb, tiny_model


def _copies(sharing: SoftSharing, encoder, task: str) -> dict[str, torch.Tensor]:
    return {n: encoder.get_parameter(n) + sharing.deltas.delta(task, n) for n in sharing.deltas.names}


def test_penalty_equals_its_pairwise_definition(tiny_encoder_dir):
    encoder, _ = load_encoder(str(tiny_encoder_dir))
    tasks = ["a", "b", "c", "d"]
    for copy in ("full", "lora"):
        sharing = SoftSharing(SharingConfig(type="soft", copy=copy, penalty_weight=0.5), encoder, tasks)
        perturb(torch.nn.ModuleDict({"sharing": sharing}), seed=1)
        copies = {t: _copies(sharing, encoder, t) for t in tasks}
        pairwise = sum(
            (copies[i][n] - copies[j][n]).pow(2).sum() for i, j in itertools.combinations(tasks, 2) for n in sharing.deltas.names
        )
        assert pairwise > 0
        torch.testing.assert_close(sharing.penalty(), 0.5 * pairwise, rtol=1e-5, atol=0)


def test_full_copy_replaces_every_weight_of_the_chosen_layers_and_freezes_the_start(tiny_encoder_dir):
    model, _ = tiny_model(tiny_encoder_dir, type="soft", copy="full", layers=[2])
    names = set(model.sharing.deltas.names)
    layer_two = {f"encoder.{n}" for n, _ in model.encoder.named_parameters() if n.startswith("encoder.layer.1.")}
    assert {f"encoder.{n}" for n in names} == layer_two
    assert not any(p.requires_grad for n, p in model.encoder.named_parameters() if n in names)


def _train(model, tokenizer, steps: int, lr: float) -> None:
    data = batches(tokenizer)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    for step in range(steps):
        name = ("ner", "sent")[step % 2]
        optimizer.zero_grad()
        loss(model, name, data[name]).backward()
        optimizer.step()


def test_lambda_limits_hard_sharing_and_separate_models(tiny_encoder_dir):
    """lambda large keeps the task copies together; lambda = 0 lets them drift apart like separate models'."""
    lr, steps, distances = 0.05, 20, {}
    # K=2 tasks: with lr * 2 * lambda * K = 1 each step pulls both copies exactly onto their mean (the stiffest
    # spring plain SGD stays stable with).
    for weight in (0.0, 1 / (lr * 4)):
        torch.manual_seed(0)
        model, tokenizer = tiny_model(tiny_encoder_dir, type="soft", copy="full", penalty_weight=weight)
        _train(model, tokenizer, steps, lr)
        distances[weight] = float(model.sharing.distance().detach())
    assert distances[0.0] > 1e-4
    assert distances[1 / (lr * 4)] < 0.01 * distances[0.0]


def test_without_penalty_a_task_step_leaves_other_copies_alone(tiny_encoder_dir):
    model, tokenizer = tiny_model(tiny_encoder_dir, type="soft", copy="full", penalty_weight=0.0)
    before = {n: p.detach().clone() for n, p in model.sharing.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss(model, "ner", batches(tokenizer)["ner"]).backward()
    optimizer.step()
    changed = {n for n, p in model.sharing.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(".ner." in n for n in changed)
