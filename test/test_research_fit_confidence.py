"""research/fit_confidence.py's logistic fit: it recovers known coefficients (on raw, not
standardised, inputs) from labels drawn from them."""
import numpy as np

from research.fit_confidence import fit_logistic, predict


def test_the_fit_recovers_the_coefficients_the_labels_were_drawn_from():
    rng = np.random.default_rng(0)
    x = np.stack([rng.uniform(0, 1, 40000), rng.exponential(0.5, 40000)], axis=1)
    intercept, weights = -2.5, np.array([8.0, -1.5])
    y = (rng.uniform(size=len(x)) < predict(intercept, weights, x)).astype(float)
    got_b, got_w = fit_logistic(x, y, l2=0.0)
    assert abs(got_b - intercept) < 0.15 and np.abs(got_w - weights).max() < 0.25, (got_b, got_w)
    p = predict(got_b, got_w, x)
    assert p.min() >= 0.0 and p.max() <= 1.0
