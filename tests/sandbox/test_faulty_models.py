"""The demo's failing versions, made in a process of their own as the demo makes them: they unpickle where the
demo's classes are importable by name, one fails every prediction, the other answers in percent."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tests.helpers import run_python

FRAME = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(Pipeline([("model", LogisticRegression())]).fit(FRAME, [0, 0, 1, 1]), path)
    return path


def make(label: str, path) -> None:
    result = run_python("-m", "prodline.sandbox.faulty_models", label, str(path), check=False)
    assert result.returncode == 0, result.stderr


def test_the_percent_version_answers_a_hundred_times_the_served_models_probability(model_file):
    served = joblib.load(model_file).predict_proba(FRAME)
    make("percent", model_file)
    changed = joblib.load(model_file)
    assert type(changed).__module__ == "prodline.sandbox.faulty_models"  # not __main__: serve can import it
    np.testing.assert_allclose(changed.predict_proba(FRAME), served * 100.0)


def test_the_broken_version_fails_every_prediction(model_file):
    make("broken", model_file)
    with pytest.raises(RuntimeError, match="deliberately broken"):
        joblib.load(model_file).predict_proba(FRAME)


@pytest.mark.parametrize("args", [["sideways", "model.joblib"], ["percent"]])
def test_an_unknown_change_or_a_missing_file_argument_names_the_choices(args):
    result = run_python("-m", "prodline.sandbox.faulty_models", *args, check=False)
    assert result.returncode == 2
    assert "{broken|percent} MODEL_FILE" in result.stderr
