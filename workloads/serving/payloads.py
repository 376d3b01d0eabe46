"""Request bodies -> a DataFrame of model inputs, predictions -> response bodies.

Accepted (SageMaker conventions):
  text/csv               rows of the 9 inputs in schema order, no header; or a header line naming the
                         columns (any order, extra columns ignored). Empty field = missing value.
  application/json       records ``[{"tenure_months": 12, ...}, ...]``, or ``{"instances": [...]}`` whose items
                         are records or lists in schema order; one record alone is one row.
  application/jsonlines  one record or list per line.
  application/x-npy      a NumPy array (no pickles) of shape (rows, 9) or (9,), schema order; a string array
                         carries categories. Numbers (bool, int, float) or unicode strings only.
Answers: application/json ``{"predictions": [p, ...]}`` (churn probabilities) or text/csv (one per line).

Every malformed body is a BadPayload (400) or PayloadTooLarge (413) naming the problem, never a crash: at
most MAX_ROWS rows, JSON nested at most MAX_JSON_DEPTH levels, CSV fields within the csv module's limit,
numbers that fit a float, and an NPY header checked against the bytes that follow it before anything is
allocated (the body itself is bounded by the server before it is read).

Parsing is hand-written for the single-row case, which is most traffic: it costs microseconds where a
general CSV/JSON-to-DataFrame reader costs a millisecond.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math

import numpy as np
import pandas as pd

from workloads.etl.schema import MODEL_INPUT_COLUMNS, NUMERIC_INPUTS, RAW_COLUMNS
from workloads.serving.errors import BadPayload, NotAcceptable, PayloadTooLarge, UnsupportedMediaType

CSV, JSON, JSONLINES, NPY = "text/csv", "application/json", "application/jsonlines", "application/x-npy"
ACCEPTED_TYPES = (CSV, JSON, JSONLINES, NPY)
RESPONSE_TYPES = (JSON, CSV)
INPUTS: tuple[str, ...] = tuple(c.name for c in MODEL_INPUT_COLUMNS)
KNOWN_COLUMNS = frozenset(c.name for c in RAW_COLUMNS)
NUMERIC = frozenset(NUMERIC_INPUTS)
MAX_ROWS = 10_000
MAX_CSV_ROWS = 500_000
"""Rows of one headerless CSV body read by the vectorised reader (batch transform's multi-record requests); the
body's size bounds it first. Bodies the per-value readers parse keep MAX_ROWS."""
FAST_CSV_FROM_ROWS = 64
"""Below this many lines, the hand-written reader is faster than pandas' C reader."""
MAX_JSON_DEPTH = 16  # a request needs 3 ({"instances": [[...]]}); the rest only costs the parser's stack
NPY_KINDS = "biufU"  # bool, integers, floats, unicode strings
_INPUT_LIST = ", ".join(INPUTS)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_BRACKET_STEP = np.zeros(256, dtype=np.int64)
_BRACKET_STEP[list(b"[{")], _BRACKET_STEP[list(b"]}")] = 1, -1


def media_type(header: str | None) -> str:
    """``Text/CSV; charset=utf-8`` -> ``text/csv``."""
    return (header or "").split(";", 1)[0].strip().lower()


class Columns(dict):
    """One request's inputs, checked and typed: column name -> list of values, plus the row count."""

    rows: int = 0


def decode(body: bytes, content_type: str) -> pd.DataFrame:
    """The request's rows as a DataFrame of MODEL_INPUT_COLUMNS (numbers float64, categories object)."""
    return frame([decode_columns(body, content_type)])


def decode_columns(body: bytes, content_type: str) -> Columns:
    """The request's rows checked and typed, not yet a DataFrame: the server merges several requests' columns
    into one DataFrame and scores them in one call."""
    kind = media_type(content_type)
    if kind not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(kind, ACCEPTED_TYPES)
    if not body:
        raise BadPayload("the request body is empty; send at least one row")
    if kind == NPY:
        return _from_npy(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadPayload(f"the body is not UTF-8 text ({error.reason} at byte {error.start})") from None
    if kind != CSV:
        _check_json_depth(body)
    if kind == CSV:
        fast = _from_plain_csv(body)
        return fast if fast is not None else _from_csv(text)
    if kind == JSONLINES:
        return _from_items([_json(line, f"line {n}") for n, line in enumerate(text.splitlines(), 1) if line.strip()])
    document = _json(text, "body")
    if isinstance(document, dict) and "instances" in document:
        document = document["instances"]
    elif isinstance(document, dict):
        document = [document]
    if not isinstance(document, list):
        raise BadPayload('JSON must be a list of rows, {"instances": [...]} or one record')
    return _from_items(document)


def response_type(accept: str | None) -> str:
    """The first supported type the Accept header lists; JSON when it lists none or any."""
    if not accept:
        return JSON
    for part in accept.split(","):
        kind = media_type(part)
        if kind in RESPONSE_TYPES:
            return kind
        if kind in ("*/*", "application/*"):
            return JSON
        if kind == "text/*":
            return CSV
    raise NotAcceptable(accept, RESPONSE_TYPES)


def encode(probabilities: np.ndarray, kind: str, model_version: str | None = None) -> bytes:
    """CSV: one score a line. JSON: ``{"predictions": [...]}``, with ``modelVersion`` when the server knows it
    (what data capture keeps, so quality can be measured per version)."""
    values = probabilities.tolist()
    if kind == CSV:
        return ("\n".join(repr(v) for v in values) + "\n").encode()
    if all(map(math.isfinite, values)):  # the bytes json.dumps writes for finite floats, at a fifth of its cost
        version = f', "modelVersion": {json.dumps(model_version)}' if model_version else ""
        return ('{"predictions": [' + ", ".join(map(float.__repr__, values)) + "]" + version + "}").encode()
    return json.dumps({"predictions": values, **({"modelVersion": model_version} if model_version else {})}).encode()


def _json(text: str, where: str):
    try:
        return json.loads(text)
    except ValueError as error:
        raise BadPayload(f"{where} is not valid JSON: {error}") from None
    except RecursionError:
        raise BadPayload(f"{where} is JSON nested too deeply; at most {MAX_JSON_DEPTH} levels") from None


def _check_json_depth(body: bytes) -> None:
    """BadPayload when arrays and objects nest deeper than MAX_JSON_DEPTH, checked before parsing.

    Brackets are counted first with strings included (C speed); only if that count is too deep are they
    counted again outside strings (vectorised, linear), so a bracket inside a string never rejects a body."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return
    brackets = body.translate(None, _NOT_BRACKETS)
    if int(np.cumsum(_BRACKET_STEP[np.frombuffer(brackets, dtype=np.uint8)]).max()) <= MAX_JSON_DEPTH:
        return
    depth = _depth_outside_strings(np.frombuffer(body, dtype=np.uint8))
    if depth > MAX_JSON_DEPTH:
        raise BadPayload(f"the JSON nests {depth} levels deep; at most {MAX_JSON_DEPTH}")


def _depth_outside_strings(data: np.ndarray) -> int:
    """Deepest bracket nesting, not counting brackets inside strings. A quote opens or closes a string
    unless an odd run of backslashes precedes it."""
    positions = np.arange(len(data), dtype=np.int32)  # bodies are far below 2 GiB
    last_plain = np.maximum.accumulate(np.where(data != ord("\\"), positions, np.int32(-1)))
    quotes = np.flatnonzero(data == ord('"'))
    before = quotes - 1
    escapes = np.where(before >= 0, before - last_plain[np.maximum(before, 0)], 0)
    real_quotes = quotes[escapes % 2 == 0]
    del positions, last_plain
    brackets = np.flatnonzero(_BRACKET_STEP[data] != 0)
    outside = brackets[np.searchsorted(real_quotes, brackets) % 2 == 0]
    return int(np.cumsum(_BRACKET_STEP[data[outside]]).max()) if len(outside) else 0


def _from_csv(text: str) -> Columns:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise BadPayload("the CSV body has no rows")
    try:
        rows = list(csv.reader(lines)) if '"' in text else [line.split(",") for line in lines]
    except csv.Error as error:  # a field over the csv module's limit, a NUL byte, a stray quote
        raise BadPayload(f"the CSV body cannot be read: {error}") from None
    first = [field.strip() for field in rows[0]]
    if set(first) <= KNOWN_COLUMNS and any(name in INPUTS for name in first):
        missing = [name for name in INPUTS if name not in first]
        if missing:
            raise BadPayload(f"the CSV header lacks the columns {', '.join(missing)}")
        positions = [first.index(name) for name in INPUTS]
        rows = [[row[i] if i < len(row) else "" for i in positions] for row in _checked_width(rows[1:], len(first))]
        if not rows:
            raise BadPayload("the CSV body has a header but no rows")
    else:
        _checked_width(rows, len(INPUTS))
    return _typed(rows)


def _from_plain_csv(body: bytes) -> Columns | None:
    """A large headerless CSV body read by pandas' C reader (batch transform's multi-record requests), or None
    when the body is not that plain case: the per-value reader then parses it and names any problem.

    Plain means: no quotes; every line holds exactly the 9 fields (counted with numpy, per line); no text a
    float parser reads differently from Python's ``float`` (``nan``, ``inf``, ``1_000``); numbers finite. Empty
    fields are missing values, as in the per-value reader; nothing else becomes one."""
    newlines = body.count(b"\n")
    if newlines < FAST_CSV_FROM_ROWS or b'"' in body or b"\r" in body:
        return None
    data = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    if ends[-1] != len(data) - 1:
        ends = np.append(ends, len(data))
    line_of_comma = np.searchsorted(ends, np.flatnonzero(data == 44))
    if len(ends) > MAX_CSV_ROWS:
        raise PayloadTooLarge(f"{len(ends)} rows in one request; send at most {MAX_CSV_ROWS}")
    if (np.bincount(line_of_comma, minlength=len(ends)) != len(INPUTS) - 1).any():
        return None  # a header, a blank line or a row of the wrong width: the per-value reader says which
    first = body[:ends[0]].split(b",")
    if any(field.strip().decode("latin-1") in KNOWN_COLUMNS for field in first):
        return None
    lowered = body.lower()
    if b"nan" in lowered or b"inf" in lowered or b"_" in body:
        return None
    try:
        frame = pd.read_csv(io.BytesIO(body), header=None, names=list(INPUTS), engine="c", keep_default_na=False,
                            na_values=[""], dtype={name: np.float64 if name in NUMERIC else object for name in INPUTS})
    except (ValueError, pd.errors.ParserError):
        return None
    columns = Columns()
    columns.rows = len(frame)
    for name in INPUTS:
        values = frame[name].to_numpy()
        if name in NUMERIC:
            if np.isinf(values).any():
                return None
        else:
            values = np.where(pd.isna(values), None, values)
        columns[name] = values
    return columns


def _checked_width(rows: list[list[str]], width: int) -> list[list[str]]:
    for number, row in enumerate(rows, 1):
        if len(row) != width:
            raise BadPayload(f"CSV row {number} has {len(row)} fields; expected {width} ({_INPUT_LIST})")
    return rows


def _from_items(items: list) -> Columns:
    if not items:
        raise BadPayload("no rows in the request")
    rows = []
    for number, item in enumerate(items, 1):
        if isinstance(item, dict):
            missing = [name for name in INPUTS if name not in item]
            if missing:
                raise BadPayload(f"row {number} lacks the fields {', '.join(missing)} (send null for unknown)")
            rows.append([item[name] for name in INPUTS])
        elif isinstance(item, list):
            if len(item) != len(INPUTS):
                raise BadPayload(f"row {number} has {len(item)} values; expected {len(INPUTS)} ({_INPUT_LIST})")
            rows.append(item)
        else:
            raise BadPayload(f"row {number} must be an object or a list, got {type(item).__name__}")
    return _typed(rows)


def _from_npy(body: bytes) -> Columns:
    array = _npy_array(body)
    if array.ndim not in (1, 2) or array.shape[-1] != len(INPUTS):
        raise BadPayload(f"the array must have shape (rows, {len(INPUTS)}) or ({len(INPUTS)},), got {array.shape}")
    return _typed(np.atleast_2d(array).tolist())


def _npy_array(body: bytes) -> np.ndarray:
    """The .npy body as an array viewing the body's bytes: the header is read and checked (shape against the
    bytes present, dtype against NPY_KINDS) before anything is allocated; pickles are never loaded."""
    stream = io.BytesIO(body)
    try:
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"format version {version[0]}.{version[1]} is not supported (1.0 or 2.0)")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(stream)
    except Exception as error:  # any header numpy cannot read is the client's: truncated, not a literal, bad dtype
        raise BadPayload(f"the body is not a NumPy .npy array: {str(error)[:200]}") from None
    if dtype.hasobject:
        raise BadPayload("the .npy array holds Python objects; send an array without pickles (numbers, strings)")
    if dtype.kind == "c":
        raise BadPayload("the .npy array holds complex numbers; send real numbers")
    if dtype.kind not in NPY_KINDS or dtype.itemsize == 0 or dtype.fields is not None:
        raise BadPayload(f"the .npy array's type {dtype.str} is not accepted; send numbers or unicode strings")
    if len(shape) not in (1, 2) or shape[-1] != len(INPUTS) or any(size < 0 for size in shape):
        raise BadPayload(f"the array must have shape (rows, {len(INPUTS)}) or ({len(INPUTS)},), got {shape}")
    if len(shape) == 2 and shape[0] == 0:
        raise BadPayload("the array has no rows")
    if len(shape) == 2 and shape[0] > MAX_ROWS:
        raise PayloadTooLarge(f"{shape[0]} rows in one request; send at most {MAX_ROWS}")
    count, offset = math.prod(shape), stream.tell()
    if count * dtype.itemsize > len(body) - offset:
        raise BadPayload(f"the .npy header announces {count * dtype.itemsize} bytes of data; "
                         f"the body holds {len(body) - offset}")
    array = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
    if dtype.kind == "U" and count:
        code_points = array.view(np.dtype(np.uint32).newbyteorder(dtype.byteorder))
        if int(code_points.max()) > 0x10FFFF:
            raise BadPayload("the .npy string array holds values that are not Unicode characters")
    return array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)


def frame(requests: list[Columns]) -> pd.DataFrame:
    """One DataFrame holding the rows of every request, in order."""
    return pd.DataFrame(arrays(requests))


def arrays(requests: list[Columns]) -> dict[str, np.ndarray]:
    """The rows of every request, in order, as one array per input (numbers float64, categories object)."""
    def column(name: str) -> np.ndarray:
        kind = np.float64 if name in NUMERIC else object
        if len(requests) == 1:
            return np.asarray(requests[0][name], dtype=kind)
        parts = [request[name] for request in requests]
        if all(type(part) is list for part in parts):  # the per-value readers' rows: one conversion, not one each
            return np.array(list(itertools.chain.from_iterable(parts)), dtype=kind)
        return np.concatenate([np.asarray(part, dtype=kind) for part in parts])

    return {name: column(name) for name in INPUTS}


def _typed(rows: list[list]) -> Columns:
    """Rows of raw values in INPUTS order -> typed columns; errors name the row, column and value."""
    if not rows:
        raise BadPayload("no rows in the request")
    if len(rows) > MAX_ROWS:
        raise PayloadTooLarge(f"{len(rows)} rows in one request; send at most {MAX_ROWS}")
    columns = Columns()
    columns.rows = len(rows)
    for position, name in enumerate(INPUTS):
        values = [row[position] for row in rows]
        convert = _number if name in NUMERIC else _category
        columns[name] = [convert(v, n, name) for n, v in enumerate(values, 1)]
    return columns


def _number(value, row: int, column: str) -> float:
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadPayload(f"row {row}, {column}: expected a number, got {_shown(value)}")
    try:
        number = float(value)
    except ValueError:
        raise BadPayload(f"row {row}, {column}: {_shown(value)} is not a number") from None
    except OverflowError:  # an integer beyond a float's range
        raise BadPayload(f"row {row}, {column}: {_shown(value)} is out of a number's range") from None
    if not math.isfinite(number):
        raise BadPayload(f"row {row}, {column}: {_shown(value)} is not a finite number")
    return number


def _category(value, row: int, column: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadPayload(f"row {row}, {column}: expected text, got {_shown(value)}")
    return value


def _shown(value) -> str:
    """A value for an error message: short, and never an error of its own."""
    if isinstance(value, (list, dict)):
        return "a JSON array" if isinstance(value, list) else "a JSON object"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37]) + "..."
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return f"a {type(value).__name__}"
