"""The server's walk of the model's trees gives scikit-learn's probabilities to the bit, or is not used."""

import json
import math

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from workloads.etl.schema import MODEL_INPUT_COLUMNS
from workloads.ingest.generator import generate_typed
from workloads.serving import handler, payloads, trees
from workloads.training.artifacts import ModelArtifacts
from workloads.training.encoding import FrameEncoder, encode

INPUTS = [c.name for c in MODEL_INPUT_COLUMNS]


@pytest.fixture(scope="module")
def model(model_dir):
    return handler.model_fn(str(model_dir))


@pytest.fixture(scope="module")
def matrix(model):
    rows = generate_typed(2000, 5)[INPUTS]
    encoded = model.pipeline.steps[0][1].transform(rows)
    holes = np.random.default_rng(3).random(encoded.shape) < 0.2  # missing values in every feature
    return np.vstack([encoded, np.where(holes, np.nan, encoded)])


def test_the_walk_equals_predict_proba_bit_for_bit(model, matrix):
    classifier = model.pipeline.steps[-1][1]
    walk = trees.compile_trees(classifier)
    assert walk is not None
    expected = classifier.predict_proba(matrix)[:, 1]
    assert np.array_equal(walk.churn_probability(matrix), expected)
    for size in (1, 2, 7):  # the server's batches: a few rows
        assert np.array_equal(walk.churn_probability(matrix[-size:]), expected[-size:])


def test_the_encoder_reads_arrays_as_it_reads_a_dataframe(model):
    rows = generate_typed(50, 8)[INPUTS]
    columns = payloads.arrays([payloads.decode_columns(rows.to_csv(header=False, index=False).encode(), "text/csv")])
    assert np.array_equal(encode(columns), model.pipeline.steps[0][1].transform(rows), equal_nan=True)


def test_the_server_scores_small_and_large_batches_as_the_pipeline_does(model):
    rows = generate_typed(trees.MAX_ROWS + 40, 9)[INPUTS]
    body = rows.to_csv(header=False, index=False).encode()
    requests = [handler.prepare(body, "text/csv", ""), *(handler.prepare(line + b"\n", "text/csv", "")
                                                         for line in body.splitlines()[:5])]
    answers = handler.score_together(model, requests)
    expected = model.pipeline.predict_proba(rows)[:, 1].tolist()
    assert [json.loads(a[1])["predictions"] for a in answers] == [expected, *([p] for p in expected[:5])]


def test_models_the_walk_does_not_reproduce_are_scored_by_their_own_predict_proba(model):
    rows = generate_typed(300, 4)[INPUTS]
    encoded = model.pipeline.steps[0][1].transform(rows)
    three_classes = HistGradientBoostingClassifier(max_iter=5).fit(encoded, np.arange(len(encoded)) % 3)
    categorical = HistGradientBoostingClassifier(max_iter=5, categorical_features=[len(encoded[0]) - 1]).fit(
        np.nan_to_num(encoded, nan=0.0), np.arange(len(encoded)) % 2)
    assert trees.compile_trees(three_classes) is None
    assert trees.compile_trees(categorical) is None
    assert trees.compile_trees(model.pipeline.steps[0][1]) is None
    pipeline = Pipeline([("encode", FrameEncoder().fit(rows)), ("model", three_classes)])
    other = ModelArtifacts(pipeline=pipeline, metadata={}, directory=model.directory)
    status, answer, _ = handler.invoke(other, rows.head(3).to_csv(header=False, index=False).encode(), "text/csv", "")
    assert status == 200
    assert json.loads(answer)["predictions"] == pipeline.predict_proba(rows.head(3))[:, 1].tolist()


def test_json_answers_are_what_json_dumps_writes():
    values = np.array([0.1807511409364094, 1e-300, 1.0, 0.0, 5e-324, 0.30000000000000004])
    assert payloads.encode(values, payloads.JSON) == json.dumps({"predictions": values.tolist()}).encode()
    assert payloads.encode(values, payloads.JSON, 'v"7\u00e9') == json.dumps(
        {"predictions": values.tolist(), "modelVersion": 'v"7\u00e9'}).encode()
    assert payloads.encode(np.array([math.nan]), payloads.JSON) == b'{"predictions": [NaN]}'
