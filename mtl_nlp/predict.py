"""Serving raw text: every task of a saved model on one string or many, in as few encoder passes as it allows.

``pipeline(model)(texts)`` splits each text into words with character offsets and runs the encoder **once** for all
token- and sequence-level heads whose inputs agree (under hard or hierarchical sharing; strategies that give tasks
their own encoder weights need one pass per task). Entities come back with character offsets and scores, relations
between predicted entities (a joint head finds them in the same pass; a marker-based relation head gets one marked
copy of the text per candidate pair, counted in ``encoder_passes``) and each text classifier's label and score.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from mtl_nlp.encoders import load_tokenizer
from mtl_nlp.modeling import MultiTaskModel
from mtl_nlp.tasks import build_task
from mtl_nlp.text import strip_markup, words_with_offsets

MAX_PAIRS = 400  # candidate entity pairs per text for marker-based relation heads; more are reported, not read
MAX_TOKENS = 512  # padded sub-words per batch by default on a CPU: bounds the activations' peak (benchmarks/cpu-2core-serving/)


class Predictor:
    """A loaded model and tokenizer; call it with texts to get one JSON-ready dict per text.

    Texts are read in batches of similar length, at most ``batch_size`` texts and ``max_tokens`` padded sub-words
    ("auto": 512 on a CPU, where the budget bounds memory at no cost in speed, and no limit on a GPU)."""

    def __init__(self, model: str, tasks: list[str] | None = None, *, device: str | None = None,
                 dtype: str | torch.dtype | None = None, batch_size: int = 32, max_tokens: int | str | None = "auto") -> None:
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
        self.model = MultiTaskModel.from_pretrained(model, **({"dtype": dtype} if dtype else {})).eval()
        self.model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = load_tokenizer(model)
        configs = [c for c in self.model.config.task_configs() if tasks is None or c.name in tasks]
        self.tasks = {c.name: build_task(c) for c in configs}
        self.batch_size = batch_size
        # auto: a CPU's memory is the scarce part (a small budget costs it no speed); a GPU wants its batches whole
        self.max_tokens = (MAX_TOKENS if self.model.device.type == "cpu" else None) if max_tokens == "auto" else max_tokens

    def __call__(self, texts: str | list[str], *, progress: bool = False) -> dict | list[dict]:
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        out: list[dict] = [{} for _ in texts]
        for chunk in tqdm(self._batches(texts), disable=not progress, desc="predicting", unit="batch"):
            for i, answer in zip(chunk, self._batch([texts[i] for i in chunk])):
                out[i] = answer
        return out[0] if single else out

    def _batches(self, texts: list[str]) -> list[list[int]]:
        """Text numbers in batches of similar length (less padding): at most ``batch_size`` texts, and with
        ``max_tokens`` at most that many padded sub-words (texts x the longest), so a batch of long texts is split
        and the activations' peak stays bounded; a text longer than the budget goes alone."""
        lengths = [len(ids) for ids in self.tokenizer(texts)["input_ids"]] if self.max_tokens else [len(t) for t in texts]
        batches: list[list[int]] = []
        for i in sorted(range(len(texts)), key=lambda i: lengths[i]):
            last = batches[-1] if batches else None
            if last is None or len(last) == self.batch_size or (self.max_tokens and (len(last) + 1) * lengths[i] > self.max_tokens):
                batches.append([i])
            else:
                last.append(i)
        return batches

    @torch.no_grad()
    def _batch(self, texts: list[str]) -> list[dict]:
        plain = [strip_markup(t) for t in texts]
        words = [words_with_offsets(text) for text, _ in plain]
        out = [{"text": text} for text, _ in plain]
        live = [i for i, w in enumerate(words) if w]
        for i in set(range(len(texts))) - set(live):
            out[i]["warnings"] = ["empty text: there are no words to predict on, so no task ran"]
        # Tasks that read the text itself; a marker-based relation head reads entity pairs instead (text_inputs: None).
        text_tasks = {n: t for n, t in self.tasks.items() if t.text_inputs([], "") is not None}
        batches = {name: self._encode(task, [task.text_inputs([w for w, _, _ in words[i]], plain[i][0]) for i in live])
                   for name, task in text_tasks.items()} if live else {}
        found: dict[int, list[dict]] = {}  # per text, the first entity head's entities (candidates for relations)
        for names in _same_inputs(batches):
            hidden = self.model.encode_tasks(names, **batches[names[0]])
            for name in names:
                logits = self.model(task=name, hidden_states=hidden[name], **batches[name]).logits
                for i, answer in zip(live, self.tasks[name].answers(logits, batches[name])):
                    out[i][name], entities = _with_text(answer, words[i], plain[i][0])
                    if entities is not None:
                        found.setdefault(i, entities)
        for name in text_tasks:
            self._warn_if_cut(name, batches.get(name), live, out)
        for name, task in self.tasks.items():
            if name not in text_tasks:
                for i, answer in zip(live, self._relations(task, name, [(words[i], plain[i], found.get(i, [])) for i in live])):
                    out[i][name] = answer
        return out

    def _encode(self, task, columns: list[dict[str, list]]) -> dict[str, torch.Tensor]:
        """One batch of the task's inputs (placeholder labels, which answers ignore) on the model's device; a long
        text may take several rows (windows), which ``answers`` merges back into one answer."""
        merged = {key: [c[key][0] for c in columns] for key in columns[0]}
        encoded = task.preprocess(merged, self.tokenizer)
        for column in task.counted():
            encoded.pop(column)
        rows = len(encoded["input_ids"])
        batch = task.collator(self.tokenizer)([{k: encoded[k][i] for k in encoded} for i in range(rows)])
        return {k: v.to(self.model.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def _warn_if_cut(self, name: str, batch: dict | None, live: list[int], out: list[dict]) -> None:
        if batch is None or "window" in batch:  # a windowed task reads every word of a long text
            return
        limit = self.tasks[name].config.max_length
        for i, length in zip(live, batch["attention_mask"].sum(-1).tolist()):
            if length >= limit:
                out[i].setdefault("warnings", []).append(
                    f"{name}: the text is longer than the task's max_length of {limit} sub-words; only its start was read")

    def _relations(self, task, name: str, texts: list[tuple[list, tuple[str, dict], list[dict]]]) -> list[dict]:
        """Relations of a marker-based head for each text: the marked pair when the text marks one, else every ordered
        pair of the entities another head predicted. One encoder pass per pair, the pairs of all the texts batched."""
        results, rows = [], []  # rows: (text number, head, tail, entities, marked, input columns)
        for number, (words, (text, marked), entities) in enumerate(texts):
            tokens = [w for w, _, _ in words]
            if marked:
                entities = [_marked_entity(marked[r], words, text) for r in ("e1", "e2")]
                candidates = [(0, 1)] if None not in entities else []
            else:
                candidates = [(h, t) for h in range(len(entities)) for t in range(len(entities)) if h != t]
            result = {"relations": [], "encoder_passes": 0}
            if len(candidates) > MAX_PAIRS:
                result["warning"] = f"{len(candidates)} candidate pairs; the first {MAX_PAIRS} were classified"
            for h, t in candidates[:MAX_PAIRS]:
                columns = task.pair_inputs(tokens, entities[h]["words"], entities[t]["words"])
                if columns is not None:
                    rows.append((number, h, t, entities, bool(marked), columns))
                    result["encoder_passes"] += 1
            results.append(result)
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            batch = self._encode(task, [row[-1] for row in chunk])
            for (number, h, t, entities, marked, _), scored in zip(chunk, task.answers(self.model(task=name, **batch).logits, batch)):
                if marked or scored["label"] != task.config.negative_label:
                    results[number]["relations"].append({"type": scored["label"], "score": scored["score"],
                                                         "head": _public(entities[h]), "tail": _public(entities[t])})
        return results


def pipeline(model: str, tasks: list[str] | None = None, **options) -> Predictor:
    """``pipeline("outputs/demo")("Anna Smith joined Acme Corp in Paris .")``: a model folder or Hub id, served."""
    return Predictor(model, tasks, **options)


def _same_inputs(batches: dict[str, dict]) -> list[list[str]]:
    """Task names grouped by identical encoder inputs: each group needs one encoder pass (strategy permitting)."""
    groups: list[list[str]] = []
    for name, batch in batches.items():
        for group in groups:
            other = batches[group[0]]
            if other["input_ids"].shape == batch["input_ids"].shape and torch.equal(other["input_ids"], batch["input_ids"]) \
                    and torch.equal(other["attention_mask"], batch["attention_mask"]):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups


def _with_text(answer: dict, words: list[tuple[str, int, int]], text: str) -> tuple[dict, list[dict] | None]:
    """The answer with character offsets and each entity's text (relations point at entity dicts), and the
    entities with their word spans too (for relation heads); None for an answer without entities."""
    if "entities" not in answer:
        return answer, None
    entities = [_entity(e, words, text) for e in answer["entities"]]
    out = {**answer, "entities": [_public(e) for e in entities]}
    if "relations" in answer:
        out["relations"] = [{"type": r["type"], "score": r["score"], "head": _public(entities[r["head"]]),
                             "tail": _public(entities[r["tail"]])} for r in answer["relations"]]
    return out, entities


def _entity(entity: dict, words: list[tuple[str, int, int]], text: str) -> dict:
    start, end = words[entity["start"]][1], words[entity["end"] - 1][2]
    return {"text": text[start:end], "type": entity["type"], "start": start, "end": end, "score": entity["score"],
            "words": {"start": entity["start"], "end": entity["end"], "type": entity["type"]}}


def _marked_entity(span: dict, words: list[tuple[str, int, int]], text: str) -> dict | None:
    inside = [i for i, (_, s, e) in enumerate(words) if s >= span["start"] and e <= span["end"]]
    if not inside:
        return None
    entity = {"type": span.get("type"), "start": inside[0], "end": inside[-1] + 1, "score": None}
    return _entity(entity, words, text)


def _public(entity: dict) -> dict:
    return {k: v for k, v in entity.items() if k != "words"}
