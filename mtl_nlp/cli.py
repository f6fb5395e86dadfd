"""``mtl-nlp``: train, evaluate, predict, validate, score, push, serve, report, meta-train, adapt and demo-data
subcommands. Config and data errors print as one paragraph (exit 2), never as a traceback."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from mtl_nlp.allocator import preload_jemalloc
from mtl_nlp.errors import ConfigError, DataFormatError


def _overrides(args: argparse.Namespace) -> list[str]:
    return [*args.overrides, *([f"data_dir={args.data_dir}"] if args.data_dir else [])]


def _main_process() -> bool:
    """Under accelerate launch or torchrun (RANK set), only rank 0 reports; the process group may be gone by then."""
    return os.environ.get("RANK", "0") == "0"


def cmd_validate(args: argparse.Namespace) -> int:
    from mtl_nlp.validation import validate_run

    run = validate_run(args.run, _overrides(args))
    print(f"{args.run}: OK ({len(run.tasks)} tasks: {', '.join(t.name for t in run.tasks)})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from mtl_nlp.trainer import train
    from mtl_nlp.validation import validate_run

    run = validate_run(args.run, _overrides(args))
    output_dir = train(run)
    if _main_process():
        summary = json.loads((output_dir / "metrics.json").read_text())
        print(f"best dev step {summary['best_step']} (model saved in {output_dir}):")
        _print_scores(summary["dev"])
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mtl_nlp.evaluation import evaluate_model

    results = evaluate_model(
        args.model_dir, data_dir=args.data_dir, split=args.split, tasks=args.tasks, predictions_dir=args.predictions,
        decoding=args.decoding, relation_threshold=args.relation_threshold,
    )
    if _main_process():
        _print_scores(results)
        if args.output:
            Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from mtl_nlp.predict import Predictor

    texts = list(args.text or [])
    if args.input:
        texts += [_input_text(args.input, n, line) for n, line in enumerate(Path(args.input).open(encoding="utf-8"), 1) if line.strip()]
    if not texts:
        raise ConfigError("nothing to predict: give --text TEXT (repeatable) or --input FILE.jsonl")
    budget = {} if args.max_tokens is None else {"max_tokens": args.max_tokens or None}
    predictor = Predictor(args.model_dir, args.tasks, device=args.device, dtype=args.dtype, batch_size=args.batch_size, **budget)
    lines = [json.dumps(r, ensure_ascii=False) for r in predictor(texts, progress=bool(args.input))]
    if args.output:
        Path(args.output).write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        print("\n".join(lines))
    return 0


def _input_text(path: str, number: int, line: str) -> str:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as err:
        raise DataFormatError(f"not valid JSON ({err.msg}); each line must be {{\"text\": ...}}", path=path, line=number) from None
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise DataFormatError('each line must be an object with a "text" string', path=path, line=number)
    return value["text"]


def cmd_score(args: argparse.Namespace) -> int:
    from mtl_nlp.scoring import SCORERS

    for path in (args.predictions, args.gold):
        if not Path(path).is_file():
            raise DataFormatError("no such file", path=path)
    scores = SCORERS[args.metric](args.predictions, args.gold)
    _print_scores({args.metric: scores})
    print(f"primary ({args.metric}): {100 * scores['primary']:.2f}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from mtl_nlp.hub import push

    url = push(args.model_dir, args.repo_id, private=args.private, revision=args.revision, commit_message=args.commit_message,
               with_app=args.with_app, app_requirement=args.app_requirement)
    print(f"pushed {args.model_dir} to {args.repo_id}{' (a Gradio Space)' if args.with_app else ''}: {url}")
    return 0


def cmd_meta_train(args: argparse.Namespace) -> int:
    from mtl_nlp.meta import meta_train
    from mtl_nlp.validation import validate_run

    out = meta_train(validate_run(args.run, _overrides(args)))
    print(f"meta-learned initialisation: {out} (start a new task from it with `mtl-nlp adapt {out} TASK.yaml`)")
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from mtl_nlp.config import Problem, TrainConfig, raise_problems
    from mtl_nlp.meta import adapt_run
    from mtl_nlp.trainer import train
    from mtl_nlp.validation import validate_task

    task = validate_task(args.task, args.data_dir)
    recipe = TrainConfig(learning_rate=args.learning_rate, head_learning_rate=args.head_learning_rate, batch_size=args.batch_size,
                         max_steps=args.steps, eval_every=args.steps, warmup_ratio=0.1, seed=args.seed)
    option = {"max_steps": "--steps", "eval_every": "--steps"}
    problems = [Problem("command line", None, option.get(k, f"--{k.replace('_', '-')}"), m) for k, m in recipe.problems()]
    raise_problems(list({p.key: p for p in problems}.values()), "adapt")
    out = args.out or f"outputs/adapt/{task.name}-{args.examples or 'all'}-seed{args.seed}"
    train(adapt_run(args.model_dir, task, examples=args.examples, data_dir=args.data_dir, output_dir=out, train=recipe))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from mtl_nlp.app import serve

    serve(args.model_dir, port=args.port, share=args.share, host=args.host)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from mtl_nlp.report import write_report

    page = write_report(args.run_dir, args.out)
    print(f"report: {page}")
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from mtl_nlp.demo_data import write_demo_data

    out = write_demo_data(args.out_dir, seed=args.seed, train_size=args.train_size, dev_size=args.dev_size)
    print(f"wrote synthetic ner/, relation/ and sentiment/ train and dev files to {out}")
    return 0


def _probability(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a probability between 0 and 1, got {text}")
    return value


def _print_scores(results: dict[str, dict]) -> None:
    for task, scores in results.items():
        shown = ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if isinstance(v, float) and k != "primary")
        print(f"  {task}: {shown}")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtl-nlp", description="Multi-task fine-tuning of one shared encoder.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (("train", cmd_train, "train a run"), ("validate", cmd_validate, "check a run without training")):
        p = sub.add_parser(name, help=text, description=f"{text.capitalize()}. Overrides: dotted key=value, e.g. train.max_steps=200.")
        p.add_argument("run", help="run YAML, e.g. task_configs/runs/demo.yaml")
        p.add_argument("overrides", nargs="*", help="key=value overrides of the run YAML")
        p.add_argument("--data-dir", help="folder the task files are relative to (overrides data_dir)")
        p.set_defaults(func=func)
    p = sub.add_parser("evaluate", help="score a saved model on its tasks' data")
    p.add_argument("model_dir")
    p.add_argument("--data-dir", required=True, help="folder the task files are relative to")
    p.add_argument("--split", default="dev", choices=["train", "dev", "test"])
    p.add_argument("--tasks", nargs="+", help="only these tasks")
    p.add_argument("--output", help="write the scores as JSON here")
    p.add_argument("--predictions", help="folder for prediction files in each benchmark's answer format")
    p.add_argument("--decoding", choices=["argmax", "viterbi"], help="tagging decoding for every task (default: as saved)")
    p.add_argument("--relation-threshold", type=_probability,
                   help="joint extraction: the probability a relation type needs (default: as saved)")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("predict", help="run a saved model (folder or Hub id) on raw text")
    p.add_argument("model_dir")
    p.add_argument("--text", action="append", help="a text (repeatable); <e1>..</e1> <e2>..</e2> marks a relation's pair")
    p.add_argument("--input", help='JSONL file of {"text": ...} lines')
    p.add_argument("--output", help="write JSONL here instead of standard output")
    p.add_argument("--tasks", nargs="+", help="only these tasks")
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when there is one)")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="weights' dtype (default: as saved)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-tokens", type=int, help="padded sub-words per batch at most (default 512 on a CPU, none on a GPU; 0: no limit); bounds memory")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("score", help="score any system's output files with the official metric")
    p.add_argument("--metric", required=True, choices=["seqeval", "semeval2010_task8", "conll04"])
    p.add_argument("predictions", help="CoNLL columns (seqeval), <id>TAB<label> lines (semeval), SpERT JSON (conll04)")
    p.add_argument("gold", help="the gold file in the same format (SemEval also takes the dataset file itself)")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("push", help="upload a model folder, with a generated model card, to the Hugging Face Hub",
                       description="The token comes from HF_TOKEN or `hf auth login`; HF_ENDPOINT picks another Hub.")
    p.add_argument("model_dir")
    p.add_argument("repo_id", help="user-or-org/name; created if it does not exist")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", help="branch to commit to (created if needed); default: main")
    p.add_argument("--commit-message")
    p.add_argument("--with-app", action="store_true", help="push as a Gradio Space that serves the model (app.py, requirements.txt)")
    p.add_argument("--app-requirement", help="how the Space installs mtl-nlp (default: mtl-nlp[app]==this version, from PyPI)")
    p.set_defaults(func=cmd_push)
    p = sub.add_parser("meta-train", help="Reptile over a run's tasks: an encoder initialisation for new tasks")
    p.add_argument("run", help="run YAML (its meta: section sets inner_steps and step_size)")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the run YAML")
    p.add_argument("--data-dir", help="folder the task files are relative to (overrides data_dir)")
    p.set_defaults(func=cmd_meta_train)
    p = sub.add_parser("adapt", help="fine-tune a new task from any model folder on N examples")
    p.add_argument("model_dir", help="a model folder or Hub id: plain encoder, multi-task model or meta-trained one")
    p.add_argument("task", help="the new task's YAML")
    p.add_argument("--data-dir", required=True, help="folder the task's files are relative to")
    p.add_argument("--examples", type=int, help="training examples to use (a seeded random subset; default all)")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--learning-rate", type=float, default=5e-5)
    p.add_argument("--head-learning-rate", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--out", help="output folder (default outputs/adapt/<task>-<examples>-seed<seed>)")
    p.set_defaults(func=cmd_adapt)
    p = sub.add_parser("serve", help="a Gradio demo of a saved model (folder or Hub id) in the browser")
    p.add_argument("model_dir")
    p.add_argument("--port", type=int, help="default: 7860, or the next free port")
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve other machines")
    p.add_argument("--share", type=lambda v: v.lower() in ("1", "true", "yes"), default=False, help="a public gradio.live link (true/false)")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("report", help="figures and one self-contained HTML page for a training or benchmark output folder")
    p.add_argument("run_dir", help="a training output_dir (metrics.json) or a benchmark --out folder (results.json)")
    p.add_argument("--out", help="folder for report.html and the PNGs (default: RUN_DIR/report)")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("demo-data", help="write the synthetic demo corpus")
    p.add_argument("out_dir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-size", type=int, default=1200)
    p.add_argument("--dev-size", type=int, default=300)
    p.set_defaults(func=cmd_demo_data)
    return parser


def entry() -> int:
    """The ``mtl-nlp`` command: first the memory allocator (jemalloc where installed; mtl_nlp.allocator), then the
    subcommand."""
    preload_jemalloc()
    return main()


def run_script(script_main: Callable[[list[str]], int]) -> NoReturn:
    """A training script's ``__main__``: first the memory allocator, as ``mtl-nlp``, then ``script_main(sys.argv[1:])``."""
    preload_jemalloc()
    sys.exit(script_main(sys.argv[1:]))


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    # Overrides may come before or after options such as --data-dir, which plain parse_args cannot mix.
    args, extra = parser.parse_known_args(argv)
    stray = [e for e in extra if "=" not in e or e.startswith("-")]
    if stray or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    return run_command(lambda: args.func(args))


def run_command(body) -> int:
    """Run a command body with logging set up; config and data errors print as one paragraph and exit 2."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", level=logging.INFO)
    from mtl_nlp.checkpoints import TrainingStopped

    try:
        return body()
    except (ConfigError, DataFormatError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingStopped as stopped:
        print(stopped, file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
