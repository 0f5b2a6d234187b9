"""earshot's detector: a pure library, DataFrames in and DataFrames out.

>>> from detector import RollingBaselineDetector, complaint_counts, episodes
"""

from .baseline import RollingBaselineDetector
from .complaints import (
    LABELS,
    PROBLEM_TYPES,
    ComplaintClassifier,
    RuleComplaintFilter,
    RuleFeatures,
    complaint_scores,
)
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

__all__ = [
    "LABELS",
    "PROBLEM_TYPES",
    "ComplaintClassifier",
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
