"""The `combined` confidence (TrackerParams.confidence): a logistic regression over a few of the
frame's signals (signals.SIGNALS), fitted on training-data proxies with the bundled model to
tell right boxes from wrong ones (docs/longterm.md, Phase D), reported in first_frame units:

    combined = clip(sum(WEIGHTS[name] * signals[name]) / WEIGHTS["first_frame"], 0, 1)

i.e. the fit's logit, less its intercept, over its first_frame weight. It ranks frames as the
fitted probability does, and equals first_frame when the other signals are 0, so the
thresholds (lost, recover, memory, redetect_margin) mean what they mean for first_frame, and
a model the numbers were not fitted for (`fitted_for(net)` false: another checkpoint reads
other scores) reports first_frame instead, with a one-line warning, under the same thresholds.

Provenance (the one place these numbers live):
    python -m research.fit_confidence --data runs/lt_proxy150 \
        --results runs/conf_p150/stmtrack-bounded-got10k --fit blackswan bmx-trees car-roundabout dog \
        --features first_frame jump --also runs/conf_heldout150 runs/conf_h150/stmtrack-bounded-got10k
(the 150-frame proxy's first 4 source videos fitted, the other 4 and a proxy of 6 other DAVIS
videos held out; signals recorded with the defaults of 2026-12-02, confidence first_frame).
"""
from __future__ import annotations

import math

# research.fit_confidence's "coefficients" line (its intercept, -2.7231, cancels here)
WEIGHTS = {"first_frame": 8.0286, "jump": -1.5903}
# export.weights_sha256 of the bundled model (models/stmtrack_small.pt) the fit was made with
FITTED_FOR = "a1f1512b4881f4571c3f0e63c37c4e4199a6a8343789ef7035fbe0f822fecd39"


def score(signals: dict) -> float:
    """The combined confidence of one read's signals, in [0, 1]."""
    value = sum(w * signals[name] for name, w in WEIGHTS.items()) / WEIGHTS["first_frame"]
    return min(max(value, 0.0), 1.0) if math.isfinite(value) else 0.0


def fitted_for(net) -> bool:
    """Whether the coefficients were fitted on this network's weights."""
    from stmtrack_ros.model.export import weights_sha256
    return weights_sha256(net) == FITTED_FOR
