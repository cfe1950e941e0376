"""The `combined` confidence (TrackerParams.confidence): the probability that the box is right,
from a logistic regression over a few of the frame's signals (signals.SIGNALS),

    combined = 1 / (1 + exp(-(INTERCEPT + sum(WEIGHTS[name] * signals[name]))))

fitted on training-data proxies with the bundled model (docs/longterm.md, Phase D). The
numbers belong to that model: another checkpoint reads other scores, so `fitted_for(net)` is
false for it and the tracker reports `first_frame` instead, with a one-line warning.

Provenance (the one place these numbers live):
    python -m research.fit_confidence --data runs/lt_proxy150 \
        --results runs/conf_p150/stmtrack-bounded-got10k --fit blackswan bmx-trees car-roundabout dog \
        --features first_frame jump --also runs/conf_heldout150 runs/conf_h150/stmtrack-bounded-got10k
(the 150-frame proxy's first 4 source videos fitted, the other 4 and a proxy of 6 other DAVIS
videos held out; signals recorded with the defaults of 2026-12-02, confidence first_frame).
"""
from __future__ import annotations

import math

# research.fit_confidence's "coefficients" line
INTERCEPT = -2.7231
WEIGHTS = {"first_frame": 8.0286, "jump": -1.5903}
# export.weights_sha256 of the bundled model (models/stmtrack_small.pt) the fit was made with
FITTED_FOR = "a1f1512b4881f4571c3f0e63c37c4e4199a6a8343789ef7035fbe0f822fecd39"


def score(signals: dict) -> float:
    """The combined confidence of one read's signals, in [0, 1]."""
    z = INTERCEPT + sum(w * signals[name] for name, w in WEIGHTS.items())
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def fitted_for(net) -> bool:
    """Whether the coefficients were fitted on this network's weights."""
    from stmtrack_ros.model.export import weights_sha256
    return weights_sha256(net) == FITTED_FOR
