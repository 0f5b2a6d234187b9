"""earshot's detector: a pure library, DataFrames in and DataFrames out.

>>> from detector import RollingBaselineDetector, complaint_counts, episodes

The names built on scikit-learn are imported on first use, so a process that
only judges posts (:mod:`detector.rules`, :mod:`detector.scorer`) never loads
scikit-learn and SciPy, which would cost it about 90 MB.
"""

import importlib

from .counts import complaint_counts, counts_by, first_reports
from .episodes import episodes
from .evaluation import (
    acknowledgment_grade,
    anomaly_windows,
    calibration,
    lead_minutes,
    match_incidents,
    nab_raw_score,
    nab_score,
    official_incidents,
    summarize,
)
from .rules import LABELS, PROBLEM_TYPES, RuleComplaintFilter
from .scorer import ComplaintScorer

_ON_FIRST_USE = {
    "RollingBaselineDetector": "baseline",
    "ComplaintClassifier": "complaints",
    "RuleFeatures": "complaints",
    "complaint_scores": "complaints",
}

__all__ = [
    "LABELS",
    "PROBLEM_TYPES",
    "ComplaintClassifier",
    "ComplaintScorer",
    "RollingBaselineDetector",
    "RuleComplaintFilter",
    "RuleFeatures",
    "acknowledgment_grade",
    "anomaly_windows",
    "calibration",
    "complaint_counts",
    "complaint_scores",
    "counts_by",
    "episodes",
    "first_reports",
    "lead_minutes",
    "match_incidents",
    "nab_raw_score",
    "nab_score",
    "official_incidents",
    "summarize",
]


def __getattr__(name: str):
    if name not in _ON_FIRST_USE:
        raise AttributeError(f"module 'detector' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_ON_FIRST_USE[name]}", __name__), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
