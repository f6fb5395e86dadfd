"""One reader per file format, each returning a ``datasets.Dataset`` whose columns carry the task's role names.

Parsing is left to the ``datasets`` builders (cached Arrow files); what is ours is the diagnosis: when a builder fails
or pads a short line, we find the offending line so the error reads ``file:line: what is wrong; how to fix it``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import datasets

from mtl_nlp.errors import DataFormatError

Reader = Callable[[str, dict], datasets.Dataset]
# The builders print progress bars for every tiny file; our log already says what is read.
datasets.disable_progress_bars()


def conll_line(path: str, sentence: int, token: int = 0) -> int:
    """1-based line of token ``token`` of sentence ``sentence``, counted the way the conll builder counts."""
    index, position = -1, -1
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line:
                position = -1
                continue
            if line.startswith("-DOCSTART-"):
                continue
            index += position == -1
            position += 1
            if index == sentence and position == token:
                return number
    return 0


def jsonl_line(path: str, row: int) -> int:
    """1-based line of the ``row``-th non-blank line."""
    with open(path, encoding="utf-8") as handle:
        rows = (n for n, line in enumerate(handle, start=1) if line.strip())
        return next((n for i, n in enumerate(rows) if i == row), 0)


def csv_line(path: str, row: int) -> int:
    """1-based line of data row ``row`` (after the header); exact unless fields hold newlines."""
    return row + 2


def read_conll(path: str, columns: dict) -> datasets.Dataset:
    """CoNLL column files: one token per line, blank line between sentences, ``-DOCSTART-`` lines skipped.

    ``columns`` maps roles to 0-based column indices, e.g. ``{tokens: 0, tags: 3}``.
    """
    bad = {role: idx for role, idx in columns.items() if not isinstance(idx, int) or idx < 0}
    if bad:
        raise DataFormatError(f"conll columns must be 0-based column numbers, got {bad}", path=path)
    width = max(columns.values()) + 1
    names = [f"column_{i}" for i in range(width)]
    ds = _load("conll", path, column_names=names)
    ds = ds.select_columns([f"column_{i}" for i in columns.values()])
    ds = ds.rename_columns({f"column_{i}": role for role, i in columns.items()})
    _check_conll_width(ds, path, list(columns), width)
    return ds


def _check_conll_width(ds: datasets.Dataset, path: str, roles: list[str], width: int) -> None:
    """The builder pads short lines with ''; a padded value means the line had too few columns."""
    for role in roles:
        for sentence, values in enumerate(ds[role]):
            if "" in values:
                line = conll_line(path, sentence, values.index(""))
                raise DataFormatError(
                    f"expected at least {width} whitespace-separated columns (the task reads column "
                    f"{roles.index(role)} as {role!r}), found fewer. Fix the line or the task's 'columns'.",
                    path=path,
                    line=line,
                )


def read_jsonl(path: str, columns: dict) -> datasets.Dataset:
    """JSON Lines: one object per line. ``columns`` maps roles to field names (identity when omitted)."""
    ds = _load("json", path)
    return _rename(ds, path, columns)


def read_csv(path: str, columns: dict) -> datasets.Dataset:
    """Comma-separated values with a header row."""
    import csv

    check_fields(path, ",", csv.QUOTE_MINIMAL)
    return _rename(_load("csv", path), path, columns)


def read_tsv(path: str, columns: dict) -> datasets.Dataset:
    """Tab-separated values with a header row (GLUE style, no quoting)."""
    import csv

    check_fields(path, "\t", csv.QUOTE_NONE)
    return _rename(_load("csv", path, sep="\t", quoting=3), path, columns)


def read_sst(path: str, columns: dict) -> datasets.Dataset:
    """SST sentence files (``stsa.binary.*``): ``label<SPACE>sentence`` per line.

    Fields ``sentence`` and ``label``, as in GLUE's SST-2 TSV and the Hub's glue/sst2, so one ``columns`` mapping
    serves all three sources."""
    rows = []
    for number, line in _lines(path):
        label, _, text = line.partition(" ")
        if not label or not text.strip():
            raise DataFormatError("expected 'label sentence' (label, one space, the sentence)", path=path, line=number)
        rows.append({"label": label, "sentence": text.strip()})
    return _from_rows(rows, path, columns)


def read_semeval(path: str, columns: dict) -> datasets.Dataset:
    """SemEval-2010 Task 8: ``id<TAB>"sentence with <e1>..</e1> <e2>..</e2>"``, the label, ``Comment:``, a blank line.

    Roles: ``id``, ``tokens``, ``head`` (e1), ``tail`` (e2), ``label``. The label keeps its direction, e.g.
    ``Cause-Effect(e2,e1)``; e1/e2 are the markup's order, so head is always e1. CRLF line ends are accepted.
    """
    from mtl_nlp.text import parse_marked

    rows, lines = [], list(_lines(path, skip_comments=True))
    for i in range(0, len(lines), 2):
        (number, first), label = lines[i], lines[i + 1][1] if i + 1 < len(lines) else ""
        sent_id, tab, quoted = first.partition("\t")
        if not tab or not sent_id.strip().isdigit() or not label or label.startswith("Comment"):
            raise DataFormatError('expected id<TAB>"sentence", then a label line and a Comment: line', path=path, line=number)
        parsed = parse_marked(quoted.strip().strip('"'))
        if parsed is None:
            raise DataFormatError("the sentence needs one <e1>..</e1> and one <e2>..</e2>", path=path, line=number)
        tokens, head, tail = parsed
        rows.append({"id": sent_id.strip(), "tokens": tokens, "head": head, "tail": tail, "label": label.strip()})
    return _from_rows(rows, path, columns)


def read_spert(path: str, columns: dict) -> datasets.Dataset:
    """SpERT JSON (CoNLL04, SciERC, ...): one array of ``{tokens, entities: [{type, start, end}], relations:
    [{type, head, tail}]}``, ``end`` exclusive, ``head``/``tail`` indexing the sentence's entity list."""
    try:
        data = json.loads(check_text(path))
    except json.JSONDecodeError as err:
        raise DataFormatError(f"not valid JSON ({err.msg})", path=path, line=err.lineno) from None
    if not isinstance(data, list):
        raise DataFormatError("expected one JSON array of sentences", path=path, line=1)
    rows = [{"tokens": d.get("tokens"), "entities": d.get("entities", []), "relations": d.get("relations", [])} for d in data]
    return _from_rows(rows, path, columns)


def check_text(path: str) -> str:
    """The file's text, after the checks every text format shares: it exists, is not empty, and is UTF-8 (a byte
    that is not is reported with its line and column). A UTF-8 byte-order mark is dropped."""
    if not Path(path).is_file():
        raise DataFormatError("no such file. Check the task's 'files' and the run's data_dir (--data-dir).", path=path)
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise DataFormatError(f"byte 0x{data[err.start]:02x} at column {column} is not UTF-8; re-save the file as UTF-8 "
                              "(e.g. iconv -f latin1 -t utf-8)", path=path, line=line) from None
    if not text.strip():
        raise DataFormatError("is empty: it holds no examples. Check the task's 'files' (or fill the file).", path=path)
    return text


def check_fields(path: str, delimiter: str, quoting: int) -> None:
    """Every data row of a CSV/TSV file has as many fields as the header (a short or long row would shift values
    into the wrong columns, e.g. a text read as the label)."""
    import csv
    import io

    rows = csv.reader(io.StringIO(check_text(path), newline=""), delimiter=delimiter, quoting=quoting)
    header = next(rows)
    for row in rows:
        if row and len(row) != len(header):
            raise DataFormatError(f"{len(row)} field(s), expected {len(header)} like the header ({', '.join(header)}); "
                                  "fix the row (a tab or comma inside a field needs quoting in CSV)", path=path, line=rows.line_num)


def _lines(path: str, skip_comments: bool = False):
    """(line number, text) of the non-blank lines, line ends (LF or CRLF) removed."""
    check_text(path)
    with open(path, encoding="utf-8", newline="") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if line.strip() and not (skip_comments and line.startswith("Comment")):
                yield number, line


def _from_rows(rows: list[dict], path: str, columns: dict) -> datasets.Dataset:
    if not rows:
        raise DataFormatError("holds no examples", path=path)
    return _rename(datasets.Dataset.from_list(rows), path, columns)


def semeval_line(path: str, row: int) -> int:
    return 4 * row + 1


def sst_line(path: str, row: int) -> int:
    return jsonl_line(path, row)


def no_line(path: str, row: int) -> int:
    """JSON arrays have no line per entry; errors name the entry instead."""
    return 0


READERS: dict[str, Reader] = {
    "conll": read_conll, "jsonl": read_jsonl, "csv": read_csv, "tsv": read_tsv,
    "sst": read_sst, "semeval": read_semeval, "spert": read_spert,
}
LINE_OF: dict[str, Callable[[str, int], int]] = {
    "conll": conll_line, "jsonl": jsonl_line, "csv": csv_line, "tsv": csv_line,
    "sst": sst_line, "semeval": semeval_line, "spert": no_line,
}


def _load(builder: str, path: str, **kwargs) -> datasets.Dataset:
    check_text(path)
    builders_log = logging.getLogger("datasets")
    level = builders_log.level
    builders_log.setLevel(logging.CRITICAL)  # a failing builder logs its own traceback; our error replaces it
    try:
        return datasets.load_dataset(builder, data_files={"data": path}, split="data", **kwargs)
    except Exception as err:  # the builders raise many types; we re-locate the cause ourselves
        if builder == "json":
            _raise_bad_json_line(path)
        raise DataFormatError(f"could not be read as {builder}: {str(err).splitlines()[0]}", path=path) from None
    finally:
        builders_log.setLevel(level)


def _raise_bad_json_line(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFormatError(f"not valid JSON ({err.msg}); each line must be one JSON object", path=path, line=number) from None
            if not isinstance(value, dict):
                raise DataFormatError(f"expected a JSON object, got {type(value).__name__}", path=path, line=number)
    raise DataFormatError("rows disagree in their fields' types; make each field the same type on every line", path=path)


def _rename(ds: datasets.Dataset, path: str, columns: dict) -> datasets.Dataset:
    """Keep the role columns, renamed to their roles; a missing field is an error naming the fields that exist."""
    missing = [f"{role}: {name!r}" for role, name in columns.items() if name not in ds.column_names]
    if missing:
        raise DataFormatError(
            f"has no field {', '.join(missing)}; fields found: {ds.column_names}. Fix the task's 'columns'.", path=path
        )
    ds = ds.select_columns(list(columns.values()))
    return ds.rename_columns({name: role for role, name in columns.items() if name != role})
