"""The model card of a saved model folder, and pushing that folder to the Hugging Face Hub.

The card is built with ``huggingface_hub``'s ``ModelCard``/``ModelCardData`` and ``EvalResult`` (one ``model-index``
entry per task and metric) from the folder's own ``config.json`` and, when there is one, the run's ``metrics.json``.
The Hub token is whatever ``huggingface_hub`` finds (``HF_TOKEN`` or the login cache); it is never logged or shown.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from huggingface_hub import CommitOperationAdd, EvalResult, HfApi, ModelCard, ModelCardData, SpaceCard, SpaceCardData
from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

from mtl_nlp.config import SharingConfig, TaskConfig
from mtl_nlp.encoders import DEFAULT_ALIASES
from mtl_nlp.errors import ConfigError
from mtl_nlp.metrics import DESCRIPTIONS
from mtl_nlp.tasks import get_task_type

DEFAULT_SHARING = dataclasses.asdict(SharingConfig())
TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
CURVES = "dev_curves.png"
EXAMPLES = "examples.json"  # a few of the tasks' own texts, preloaded by the demo app


def eval_results(tasks: list[TaskConfig], scores: dict[str, dict], split: str) -> list[EvalResult]:
    """One EvalResult per task: its primary metric, in percent, on ``split``."""
    out = []
    for task in tasks:
        if task.name not in scores:
            continue
        out.append(EvalResult(
            task_type=get_task_type(task.type).hub_task,
            task_name=task.type,
            dataset_type=task.hub or task.name,
            dataset_name=task.name,
            dataset_config=task.hub_config,
            dataset_split=split,
            metric_type=task.metric,
            metric_name=DESCRIPTIONS.get(task.metric, task.metric),
            metric_value=round(100 * scores[task.name]["primary"], 2),
        ))
    return out


def model_card(model_dir: str | Path, repo_id: str | None = None) -> ModelCard:
    """The card of a saved model folder: its tasks and labels from config.json, results and training settings from
    metrics.json when the folder has one, and the learning-curve image when the run drew it."""
    folder = Path(model_dir)
    config = json.loads((folder / "config.json").read_text())
    tasks = [TaskConfig(**spec) for spec in config["tasks"]]
    metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
    run = metrics.get("run", {})
    encoder = run.get("encoder") or config["encoder"].get("_name_or_path") or config["encoder"]["model_type"]
    name = repo_id.split("/")[-1] if repo_id else folder.resolve().name
    results = eval_results(tasks, metrics.get("dev", {}), "validation")
    data = ModelCardData(
        library_name="mtl-nlp",
        tags=["mtl-nlp", "multi-task", *sorted({get_task_type(t.type).hub_task for t in tasks})],
        base_model=_hub_id(encoder),
        datasets=sorted({t.hub for t in tasks if t.hub}) or None,
        model_name=name,
        eval_results=results or None,
    )
    return ModelCard.from_template(
        data,
        template_path=str(TEMPLATE),
        model_name=name,
        encoder=encoder,
        encoder_type=config["encoder"]["model_type"],
        sharing=(config.get("sharing") or {}).get("type", "hard"),
        tasks=[{"name": t.name, "type": t.type, "metric_description": DESCRIPTIONS.get(t.metric, t.metric), "labels": t.labels} for t in tasks],
        results=[{"task": r.dataset_name, "split": "dev", "metric": r.metric_name, "value": r.metric_value} for r in results],
        results_source=f"Dev scores of the checkpoint kept by training (step {metrics.get('best_step')}, the best mean of the tasks' metrics)." if results else "",
        curves=CURVES if (folder / CURVES).is_file() else None,
        training=_training_table(run, metrics),
        datasets=[t.hub or t.name for t in tasks],
        repo_or_path=repo_id or str(folder),
    )


def _hub_id(encoder: str) -> str | None:
    """The encoder's Hub id for the card's base_model: the default's full id, any other id as given, None for a path."""
    if encoder in DEFAULT_ALIASES:
        return DEFAULT_ALIASES[-1]
    return encoder if "/" in encoder and not Path(encoder).exists() else None


def _training_table(run: dict, metrics: dict) -> dict[str, str]:
    if not run:
        return {}
    train, sampling = run["train"], run["sampling"]
    return {
        "encoder": run["encoder"],
        "sharing": ", ".join(f"{k}={v}" for k, v in run["sharing"].items() if k == "type" or v != DEFAULT_SHARING.get(k)),
        "task sampling": f"{sampling['type']} (temperature {sampling['temperature']})",
        "steps x batch size": f"{train['max_steps']} x {train['batch_size']}",
        "learning rate (encoder / heads)": f"{train['learning_rate']} / {train['head_learning_rate'] or train['learning_rate']}",
        **({"layer-wise learning-rate decay": str(train["layer_lr_decay"])} if train.get("layer_lr_decay") else {}),
        **({"a task's own layer-wise decay": ", ".join(f"{n} {d or 'none'}" for n, d in train["task_layer_lr_decay"].items())}
           if train.get("task_layer_lr_decay") else {}),
        **({"the encoder trains until": f"{train['encoder_until']} of the steps; heads and adapters to the end"}
           if train.get("encoder_until", 1.0) < 1 else {}),
        "warm-up ratio, weight decay": f"{train['warmup_ratio']}, {train['weight_decay']}",
        "mixed precision": train["mixed_precision"],
        "seed": train["seed"],
        "training time (s)": f"{metrics.get('train_seconds', 0):.0f}",
    }


def draw_curves(history: list[dict], path: str | Path) -> None:
    """Every task's dev primary metric against the training step, for the card."""
    from mtl_nlp.report.figures import figure  # here, not at the top: the report package imports this module

    with figure(Path(path), (6, 3.6)) as axis:
        for task in history[0]["dev"]:
            axis.plot([h["step"] for h in history], [100 * h["dev"][task]["primary"] for h in history], "o-", label=task)
        axis.set_xlabel("training step")
        axis.set_ylabel("dev primary metric (%)")
        axis.legend()


def write_model_card(model_dir: str | Path, repo_id: str | None = None) -> Path:
    path = Path(model_dir) / "README.md"
    model_card(model_dir, repo_id).save(path)
    return path


SPACE_APP = '''"""Gradio Space for this mtl-nlp model: the model's files sit beside this app (pushed by `mtl-nlp push --with-app`)."""

from mtl_nlp.app import serve

serve(".", host="0.0.0.0")
'''


def space_files(folder: Path, repo_id: str, requirement: str) -> dict[str, bytes]:
    """What turns the model folder into a Gradio Space: app.py, requirements.txt, and the card with Space metadata."""
    from mtl_nlp import __version__

    card = ModelCard.load(folder / "README.md")
    data = SpaceCardData(title=repo_id.split("/")[-1], sdk="gradio", app_file="app.py", license=card.data.license,
                         tags=["mtl-nlp", *(card.data.tags or [])])
    space_card = SpaceCard(f"---\n{data.to_yaml()}\n---\n{card.text}")
    requirements = f"torch\n{requirement or f'mtl-nlp[app]=={__version__}'}\n"
    return {"README.md": str(space_card).encode(), "app.py": SPACE_APP.encode(), "requirements.txt": requirements.encode()}


def push(model_dir: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
         commit_message: str | None = None, token: str | None = None, with_app: bool = False,
         app_requirement: str | None = None) -> str:
    """Create the repo if needed and upload the whole folder, card included, in one commit; returns the commit URL.

    ``with_app`` makes the repo a Gradio Space that serves the model (the Space installs ``app_requirement``, by default
    this version of mtl-nlp from PyPI; give a git URL where it is not published there).
    """
    folder = Path(model_dir)
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{folder}: not a model folder (no config.json); give the output_dir of a training run")
    write_model_card(folder, repo_id)
    extra = space_files(folder, repo_id, app_requirement) if with_app else {}
    files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()} | extra
    operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=content) for path, content in files.items()]
    kind = {"repo_type": "space", "space_sdk": "gradio"} if with_app else {}
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, **kind)
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type=kind.get("repo_type"))
        commit = api.create_commit(repo_id, operations, revision=revision, repo_type=kind.get("repo_type"),
                                   commit_message=commit_message or "Upload mtl-nlp model")
    except LocalTokenNotFoundError:
        raise ConfigError("no Hugging Face token: log in with `hf auth login` or set HF_TOKEN") from None
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else "no answer"
        raise ConfigError(f"pushing {folder} to {repo_id} failed (HTTP {status}): {_first_line(err)}. "
                          "Check the repo id and that your token may write to it.") from None
    return commit.commit_url


def _first_line(err: Exception) -> str:
    """The error's first line; huggingface_hub never puts the token there, and nothing else of the request is kept."""
    return str(err).splitlines()[0] if str(err) else type(err).__name__
