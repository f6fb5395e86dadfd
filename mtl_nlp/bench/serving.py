"""Serving three tasks from one model beside three single-task Transformers models (scripts/benchmark_speed.py).

Texts are SemEval-2010 Task 8 sentences, each marking one entity pair. The baseline is three separate models run one
after another on every text: ``AutoModelForTokenClassification`` (CoNLL-2003 tags), ``AutoModelForSequenceClassification``
(SST-2 labels) and a marker-based relation classifier (``AutoModelForSequenceClassification`` over the marked text,
SemEval labels), each batched, with nothing after the argmax. Ours is ``mtl_nlp.predict.pipeline`` on one model with
the same NER and sentiment heads and either a joint entity-relation head (CoNLL04: relations from the same encoder pass)
or the marker-based SemEval head (a second, marked pass); ours returns full answers (entities with character offsets
and scores, labels, relations). Speed does not depend on a head's weights, with one exception: the joint head
classifies every ordered pair of the entities it finds, so an untrained head (eight "entities" a sentence, 72 pairs)
would be timed on work no trained model does. The joint model is therefore trained first (``train_steps`` of
CoNLL-2003, SST-2 and CoNLL04 in turn, no evaluation); the result reports its entities and relations per text.

Every system runs in a fresh process, the systems alternated round by round; only ratios from the same run are
quoted. Peak memory is the resident set's growth from the moment the system's libraries are imported (transformers'
import, about 150 MiB, is common to both; each system's import footprint is reported beside it).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

SERVING = ("ours_joint", "ours_marked", "baseline")
SERVING_LABELS = {"ours_joint": "mtl_nlp pipeline, joint relation head (one pass)",
                  "ours_marked": "mtl_nlp pipeline, marker relation head (two passes)",
                  "baseline": "three Transformers models, one after another"}
TASK_FILES = {"ner": "conll2003", "sentiment": "sst2", "joint": "conll04", "marked": "semeval2010_task8"}
JOINT_TASKS = ("ner", "sentiment", "joint")
MARKUP = ["<e1>", "</e1>", "<e2>", "</e2>"]


def semeval_texts(path: Path, count: int) -> list[str]:
    """The first ``count`` marked sentences of a SemEval-2010 Task 8 file (``id<TAB>"text"`` lines)."""
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r'^\d+\t"(.*)"$', line)
        if match:
            texts.append(match.group(1))
        if len(texts) == count:
            break
    return texts


def build_models(run_path: str, overrides: list[str], task_dir: Path, out: Path, train_steps: int) -> dict[str, str]:
    """Save our two three-task models and the three baseline models under ``out``; returns name -> folder. The joint
    model is trained for ``train_steps`` (see the module docstring) unless that is 0."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    from mtl_nlp.config import load_task
    from mtl_nlp.encoders import add_special_tokens, load_encoder, load_tokenizer, resolve_encoder
    from mtl_nlp.modeling import MultiTaskModel
    from mtl_nlp.tasks import build_task
    from mtl_nlp.validation import validate_run

    encoder_name = validate_run(run_path, overrides).encoder
    problems: list = []
    configs = {k: load_task(task_dir / f"{name}.yaml", problems) for k, name in TASK_FILES.items()}
    folders = {}
    for name, relation in (("ours_joint", "joint"), ("ours_marked", "marked")):
        if name == "ours_joint" and train_steps:
            folders[name] = str(_trained_joint(run_path, overrides, task_dir, configs, train_steps, out / name))
            continue
        tasks = [configs["ner"], configs["sentiment"], configs[relation]]
        encoder, tokenizer = load_encoder(encoder_name)
        add_special_tokens(tokenizer, encoder, [m for t in tasks for m in build_task(t).special_tokens()])
        MultiTaskModel.from_encoder(encoder, tasks).save_pretrained(out / name)
        tokenizer.save_pretrained(out / name)
        folders[name] = str(out / name)
    path = resolve_encoder(encoder_name)
    for name, auto, labels, markers in (("ner", AutoModelForTokenClassification, configs["ner"].labels, []),
                                        ("sentiment", AutoModelForSequenceClassification, configs["sentiment"].labels, []),
                                        ("relation", AutoModelForSequenceClassification, configs["marked"].labels, MARKUP)):
        tokenizer, model = load_tokenizer(path), auto.from_pretrained(path, num_labels=len(labels))
        add_special_tokens(tokenizer, model, markers)
        model.save_pretrained(out / f"baseline-{name}")
        tokenizer.save_pretrained(out / f"baseline-{name}")
        folders[f"baseline-{name}"] = str(out / f"baseline-{name}")
    return folders


def _trained_joint(run_path: str, overrides: list[str], task_dir: Path, configs: dict, steps: int, out: Path) -> Path:
    """The NER + sentiment + joint model trained by our loop for ``steps`` (one task per step in turn, the run's
    encoder, batch size and learning rates), on the training files only: nothing is evaluated. A finished model of
    the same config in ``out`` (an earlier benchmark run) is reused."""
    from mtl_nlp.bench.harness import run_or_reuse
    from mtl_nlp.bench.speed import without_evaluation
    from mtl_nlp.validation import validate_run

    changes = [f"tasks=[{', '.join(str(task_dir / f'{TASK_FILES[k]}.yaml') for k in JOINT_TASKS)}]",
               "sampling.type=round_robin", f"train.max_steps={steps}", f"train.eval_every={steps}",
               "train.log_every=1000000", f"output_dir={out}", *without_evaluation(configs[k] for k in JOINT_TASKS)]
    run_or_reuse(validate_run(run_path, [*overrides, *changes]))
    return out


def serve(system: str, folders: dict[str, str], texts: list[str], batch_size: int) -> dict:
    """Run one system over ``texts`` in this process: seconds (after one warm-up batch), peak memory growth from
    the models on, and the memory its libraries' import took."""
    import psutil
    import torch

    from mtl_nlp.memory import PeakMemory

    torch.set_grad_enabled(False)
    started_rss = psutil.Process().memory_info().rss
    prepare = _baseline(folders, batch_size) if system == "baseline" else _ours(folders[system], batch_size)  # imports only
    before = psutil.Process().memory_info().rss
    peak = PeakMemory(interval=0.01).start()
    run = prepare()
    run(texts[:batch_size])  # warm-up
    started = time.perf_counter()
    extra = run(texts)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "texts": len(texts), "memory_bytes": peak.stop() - before,
            "import_bytes": before - started_rss, **extra}


def _ours(folder: str, batch_size: int):
    from mtl_nlp.predict import pipeline

    def prepare():
        nlp = pipeline(folder, batch_size=batch_size)

        def run(texts: list[str]) -> dict:
            answers = nlp(texts)
            relations = [len(a.get("conll04", a.get("semeval2010_task8", {})).get("relations", [])) for a in answers]
            entities = [len(a.get("conll04", {}).get("entities", [])) for a in answers]
            return {"relations_per_text": statistics.mean(relations), "joint_entities_per_text": statistics.mean(entities)}

        return run

    return prepare


def _baseline(folders: dict[str, str], batch_size: int):
    import transformers.modeling_utils  # noqa: F401  (what importing mtl_nlp.modeling loads: imports stay apart)
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

    from mtl_nlp.text import strip_markup

    def prepare():
        models = [(AutoTokenizer.from_pretrained(folders[f"baseline-{name}"]), auto.from_pretrained(folders[f"baseline-{name}"]).eval(), marked)
                  for name, auto, marked in (("ner", AutoModelForTokenClassification, False),
                                             ("sentiment", AutoModelForSequenceClassification, False),
                                             ("relation", AutoModelForSequenceClassification, True))]

        def run(texts: list[str]) -> dict:
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less, as ours does
            plain = [strip_markup(t)[0] for t in texts]
            for tokenizer, model, marked in models:
                for start in range(0, len(order), batch_size):
                    chosen = [(texts if marked else plain)[i] for i in order[start : start + batch_size]]
                    encoded = tokenizer(chosen, padding=True, truncation=True, max_length=128, return_tensors="pt")
                    model(**encoded).logits.argmax(-1).tolist()
            return {}

        return run

    return prepare


def measure_serving(run_path: str, overrides: list[str], task_dir: Path, data_dir: Path, *, texts: int, rounds: int,
                    batch_size: int, train_steps: int, out_dir: Path) -> dict:
    """Every system ``rounds`` times, alternated, each in a fresh process; texts per second and peak memory ratios.
    The run YAML gives the encoder (and, for the joint model's training, batch size and learning rates)."""
    folders = build_models(run_path, overrides, task_dir, out_dir / "models", train_steps)
    chosen = semeval_texts(data_dir / "semeval2010_task8" / "dev.txt", texts)
    job = out_dir / "serving-job.json"
    job.write_text(json.dumps({"folders": folders, "texts": chosen, "batch_size": batch_size}))
    per_round = [{system: _in_process(system, job) for system in SERVING} for _ in range(rounds)]
    systems = {}
    for system in SERVING:
        speeds = [r[system]["texts"] / r[system]["seconds"] for r in per_round]
        systems[system] = {"label": SERVING_LABELS[system], "texts_per_second": statistics.mean(speeds), "per_round": speeds,
                           "memory_bytes": max(r[system]["memory_bytes"] for r in per_round),
                           "import_bytes": max(r[system]["import_bytes"] for r in per_round),
                           **{k: v for k, v in per_round[-1][system].items() if k.endswith("_per_text")}}
    for system in ("ours_joint", "ours_marked"):
        ratios = [r[system]["texts"] / r[system]["seconds"] / (r["baseline"]["texts"] / r["baseline"]["seconds"]) for r in per_round]
        systems[system]["speed_ratio"], systems[system]["speed_ratio_per_round"] = statistics.mean(ratios), ratios
        systems[system]["memory_ratio"] = systems[system]["memory_bytes"] / systems["baseline"]["memory_bytes"]
    return {"texts": len(chosen), "batch_size": batch_size, "rounds": rounds, "joint_train_steps": train_steps,
            "threads": _threads(), "systems": systems, "rounds_raw": per_round}


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _in_process(system: str, job: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "mtl_nlp.bench.serving", system, str(job)], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"serving {system} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def serving_table(result: dict) -> str:
    joint = result["systems"]["ours_joint"]
    trained = (f"the joint model trained {result['joint_train_steps']} steps first" if result.get("joint_train_steps")
               else "untrained heads")
    lines = [
        f"Serving {result['texts']} SemEval dev sentences (NER, sentiment and relations for each), batches of "
        f"{result['batch_size']}, {result['rounds']} alternated rounds, {result.get('threads', '?')} threads, each system "
        f"in a fresh process; {trained} (its joint head found {joint['joint_entities_per_text']:.2f} entities and "
        f"{joint['relations_per_text']:.2f} relations per text). Peak memory: growth from the models on, after the "
        "system's imports (shown apart).",
        "",
        "| system | texts/s (mean of rounds) | × baseline (per round) | peak memory growth | × baseline memory | imports |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in result["systems"].values():
        ratio = f"{s['speed_ratio']:.2f} ({', '.join(f'{x:.2f}' for x in s['speed_ratio_per_round'])})" if "speed_ratio" in s else "1"
        memory = f"{s['memory_ratio']:.2f}" if "memory_ratio" in s else "1"
        lines.append(f"| {s['label']} | {s['texts_per_second']:.1f} | {ratio} | {s['memory_bytes'] / 2**20:.0f} MiB | {memory} | "
                     f"{s.get('import_bytes', 0) / 2**20:.0f} MiB |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # one system in a fresh process: python -m mtl_nlp.bench.serving SYSTEM JOB.json
    spec = json.loads(Path(sys.argv[2]).read_text())
    print(json.dumps(serve(sys.argv[1], spec["folders"], spec["texts"], spec["batch_size"])))
