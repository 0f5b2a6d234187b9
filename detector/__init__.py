"""earshot's detector: a pure library, DataFrames in and DataFrames out.

>>> from detector import RollingBaselineDetector, complaint_counts, episodes
"""

from .baseline import RollingBaselineDetector, episodes
from .complaints import PROBLEM_TYPES, RuleComplaintFilter, default_complaint_filter
from .counts import complaint_counts, counts_by
from .evaluation import lead_minutes, match_incidents, official_incidents, summarize

__all__ = [
    "PROBLEM_TYPES",
    "RollingBaselineDetector",
    "RuleComplaintFilter",
    "complaint_counts",
    "counts_by",
    "default_complaint_filter",
    "episodes",
    "lead_minutes",
    "match_incidents",
    "official_incidents",
    "summarize",
]
