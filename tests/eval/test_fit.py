"""The default-threshold rule of the calibration fit (pure numpy, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from citeqa.eval.fit import WRONG_REFUSAL_COST, best_threshold, cost_threshold, refusal_threshold


def test_cost_threshold_is_the_break_even_probability() -> None:
    assert cost_threshold(4.0) == pytest.approx(0.2)
    assert cost_threshold(1.0) == pytest.approx(0.5)  # equal costs: answer when more likely right than wrong
    assert cost_threshold() == pytest.approx(1 / (1 + WRONG_REFUSAL_COST))
    # At the threshold, answering and refusing cost the same on average: (1 - p) * 1 == p * cost.
    p = cost_threshold()
    assert (1 - p) * 1.0 == pytest.approx(p * WRONG_REFUSAL_COST)


def test_refusal_threshold_refuses_the_asked_share_of_off_topic_questions() -> None:
    conf = np.linspace(0.0, 0.99, 100)
    t = refusal_threshold(conf, 0.95)
    assert np.mean(conf < t) >= 0.95
    assert refusal_threshold(np.array([]), 0.95) == 0.5


def test_best_threshold_maximises_overall_accuracy() -> None:
    conf = np.array([0.9, 0.8, 0.3, 0.2])
    hit = np.array([True, True, False, False])
    answerable = np.array([True, True, True, False])
    t, acc = best_threshold(conf, hit, answerable)
    assert 0.2 < t <= 0.8 and acc == pytest.approx(0.75)  # the 0.2 one refused, the two hits answered
