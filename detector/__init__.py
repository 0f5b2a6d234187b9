"""earshot's detector: a pure library, DataFrames in and DataFrames out.

>>> from detector import RollingBaselineDetector, complaint_counts, episodes
"""

from .baseline import RollingBaselineDetector, episodes
from .complaints import (
    LABELS,
    PROBLEM_TYPES,
    ComplaintClassifier,
    RuleComplaintFilter,
    RuleFeatures,
    complaint_scores,
)
from .counts import complaint_counts, counts_by, first_reports
from .evaluation import lead_minutes, match_incidents, official_incidents, summarize

__all__ = [
    "LABELS",
    "ComplaintClassifier",
    "PROBLEM_TYPES",
    "RollingBaselineDetector",
    "RuleComplaintFilter",
    "RuleFeatures",
    "complaint_counts",
    "complaint_scores",
    "counts_by",
    "episodes",
    "first_reports",
    "lead_minutes",
    "match_incidents",
    "official_incidents",
    "summarize",
]
