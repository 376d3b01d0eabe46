"""The SageMaker inference handler: ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``.

The same four functions the SageMaker inference toolkit calls, so the model can be served by this
project's server or by any toolkit-based container. ``invoke`` chains them for one request, and
``prepare`` + ``score_together`` for several requests scored in one model call (what the server does with
the requests that arrive together); any exception becomes a response through ``errors.error_response``,
the one place statuses are decided.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workloads.serving import payloads, trees
from workloads.serving.errors import error_response
from workloads.training.artifacts import ModelArtifacts, load_model
from workloads.training.encoding import OUTPUT_COLUMNS, FrameEncoder, encode

LOG = logging.getLogger(__name__)


def model_fn(model_dir: str) -> ModelArtifacts:
    model = load_model(Path(model_dir))
    _compiled(model)  # before the server forks its workers, which then share the arrays
    return model


def input_fn(request_body: bytes, request_content_type: str) -> pd.DataFrame:
    return payloads.decode(request_body, request_content_type)


def predict_fn(input_data: pd.DataFrame, model: ModelArtifacts) -> np.ndarray:
    """Churn probability per row."""
    return model.pipeline.predict_proba(input_data)[:, 1]


def output_fn(prediction: np.ndarray, accept: str, model_version: str | None = None) -> tuple[bytes, str]:
    kind = payloads.response_type(accept)
    return payloads.encode(prediction, kind, model_version), kind


@dataclass
class Scoring:
    """One request on its way through the handler: decoded inputs, or already its (error) response."""

    columns: payloads.Columns | None = None
    kind: str = payloads.JSON
    response: tuple[int, bytes, str] | None = None


def prepare(body: bytes, content_type: str, accept: str) -> Scoring:
    """Decode a request (``input_fn``'s work, short of the DataFrame); a bad one gets its 4xx response here."""
    try:
        kind = payloads.response_type(accept)  # refuse an impossible Accept before scoring
        return Scoring(columns=payloads.decode_columns(body, content_type), kind=kind)
    except Exception as error:
        return Scoring(response=_error(error))


def score_together(model: ModelArtifacts, scorings: list[Scoring]) -> list[tuple[int, bytes, str]]:
    """Score every decoded request in one ``predict_fn`` call and answer each; returns (status, body, type)
    per request, in order, and never raises. If the joint call fails, each request is scored alone, so one
    request's fault cannot fail the others."""
    ready = [s for s in scorings if s.response is None]
    try:
        probabilities = _predict(model, [s.columns for s in ready]) if ready else []
    except Exception as error:
        if len(ready) == 1:
            ready[0].response = _error(error)
        else:
            for scoring in ready:
                scoring.response = score_together(model, [scoring])[0]
    else:
        start = 0
        for scoring in ready:
            share = probabilities[start:start + scoring.columns.rows]
            start += scoring.columns.rows
            scoring.response = _answer(share, scoring.kind, model.version)
    return [s.response for s in scorings]


def invoke(model: ModelArtifacts, body: bytes, content_type: str, accept: str) -> tuple[int, bytes, str]:
    """One /invocations request -> (status, body, content type). Never raises."""
    return score_together(model, [prepare(body, content_type, accept)])[0]


def _answer(probabilities: np.ndarray, kind: str, model_version: str | None = None) -> tuple[int, bytes, str]:
    try:
        answer, kind = output_fn(probabilities, kind, model_version)
    except Exception as error:
        return _error(error)
    return 200, answer, kind


def _error(error: BaseException) -> tuple[int, bytes, str]:
    """The single mapping of every failure to a response (see errors.error_response)."""
    status, _, answer = error_response(error)
    if status >= 500:
        LOG.error("scoring failed", exc_info=error)
    return status, answer, payloads.JSON


def _predict(model: ModelArtifacts, requests: list[payloads.Columns]) -> np.ndarray:
    """``predict_fn`` over the requests' rows; a small batch of the project's pipeline skips the DataFrame and
    scikit-learn's per-call costs (``trees``): the same probabilities, bit for bit, at a twentieth of the cost."""
    compiled = _compiled(model)
    if compiled is not None and sum(r.rows for r in requests) <= trees.MAX_ROWS:
        return compiled.churn_probability(encode(payloads.arrays(requests)))
    return predict_fn(payloads.frame(requests), model)


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # pipeline -> its Trees, or None


def _compiled(model: ModelArtifacts) -> trees.Trees | None:
    """The trees of the project's pipeline (FrameEncoder, then a binary HistGradientBoostingClassifier), compiled
    once per loaded model; None for any other model, which its own ``predict_proba`` scores."""
    pipeline = model.pipeline
    try:
        return _COMPILED[pipeline]
    except (KeyError, TypeError):
        pass
    steps = getattr(pipeline, "steps", None)
    compiled = None
    if steps and len(steps) == 2 and type(steps[0][1]) is FrameEncoder:
        compiled = trees.compile_trees(steps[1][1])
        if compiled is not None and compiled.features != len(OUTPUT_COLUMNS):
            compiled = None
    with contextlib.suppress(TypeError):  # an object that cannot be weakly referenced is compiled every time
        _COMPILED[pipeline] = compiled
    return compiled
