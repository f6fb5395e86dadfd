"""A Gradio demo of a trained model: type a text, see every task's answer from the one-pass pipeline.

Entities are highlighted in the text with their types, relations between them fill a table, and each text
classifier shows its label and score. What is drawn follows the shape of each task's answer (entities, relations,
a label), so any mix of tasks gets its view without this module knowing task types. Gradio is an optional extra
(``pip install "mtl-nlp[app]"``); nothing else in the package imports this module.
"""

from __future__ import annotations

import json
from pathlib import Path

from mtl_nlp.errors import ConfigError
from mtl_nlp.hub import EXAMPLES

RELATION_HEADERS = ["task", "head", "relation", "tail", "score"]
FALLBACK_EXAMPLES = ["Anna Smith works for Acme Corp in Paris .", "A wonderful , moving film ."]


def example_texts(model: str) -> list[str]:
    """The texts saved with the model at training time (``examples.json``), else two generic ones."""
    path = Path(model) / EXAMPLES
    if not path.is_file():
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(model, EXAMPLES))
        except Exception:  # a Hub id without the file, or no network: the generic examples still work
            return FALLBACK_EXAMPLES
    return json.loads(path.read_text(encoding="utf-8")) or FALLBACK_EXAMPLES


def views(answer: dict, label_tasks: list[str]) -> tuple[dict, list[list], list[dict]]:
    """One pipeline answer as (highlighted text, relation rows, one {label: score} per label task)."""
    entities, relations = [], []
    entity_tasks = [name for name, a in answer.items() if isinstance(a, dict) and "entities" in a]
    for name in entity_tasks:
        prefix = f"{name}: " if len(entity_tasks) > 1 else ""
        entities += [{"start": e["start"], "end": e["end"], "entity": prefix + e["type"]} for e in answer[name]["entities"]]
    for name, a in answer.items():
        for r in a.get("relations", []) if isinstance(a, dict) else []:
            relations.append([name, r["head"]["text"], r["type"], r["tail"]["text"], r["score"]])
    labels = [{answer[name]["label"]: answer[name]["score"]} if name in answer else {} for name in label_tasks]
    return {"text": answer["text"], "entities": sorted(entities, key=lambda e: e["start"])}, relations, labels


def build_app(predictor, examples: list[str], title: str = "mtl-nlp"):
    """The Blocks app around a loaded ``Predictor``; a probe answer tells which tasks answer with a label."""
    import gradio as gr

    probe = predictor(examples[0] if examples else FALLBACK_EXAMPLES[0])
    label_tasks = [name for name, a in probe.items() if isinstance(a, dict) and "label" in a]
    with gr.Blocks(title=title) as app:
        gr.Markdown(f"# {title}\nOne encoder pass serves every task: {', '.join(predictor.tasks)}.")
        text = gr.Textbox(label="Text", lines=2, placeholder="Type or paste a sentence", elem_id="text")
        run = gr.Button("Analyse", variant="primary", elem_id="analyse")
        highlighted = gr.HighlightedText(label="Entities", combine_adjacent=False, elem_id="entities")
        table = gr.Dataframe(headers=RELATION_HEADERS, label="Relations", elem_id="relations", interactive=False)
        labels = [gr.Label(label=name, elem_id=f"label-{name}") for name in label_tasks]
        gr.Examples(examples=[[e] for e in examples], inputs=text)

        def analyse(value: str):
            highlight, relations, scores = views(predictor(value), label_tasks)
            return [highlight, relations, *scores]

        for trigger in (run.click, text.submit):
            trigger(analyse, inputs=text, outputs=[highlighted, table, *labels])
    return app


def _theme():
    """Gradio's default look with system fonts, so the page needs nothing from the network."""
    import gradio as gr

    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])


def serve(model: str, *, port: int | None = None, share: bool = False, host: str = "127.0.0.1", block: bool = True):
    """Load ``model`` (a folder or Hub id) and start the app; with ``block=False`` return it running."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ConfigError('the demo app needs Gradio: pip install "mtl-nlp[app]"') from None
    from mtl_nlp.predict import Predictor

    app = build_app(Predictor(model), example_texts(model), title=f"mtl-nlp: {Path(model).name or model}")
    app.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block, quiet=not block, theme=_theme())
    return app
