"""earshot's anomaly detector: a pure library, DataFrames in and DataFrames out.

Counts of complaints go in; a score against a rolling, seasonal baseline, alert
episodes and their grading against official acknowledgments come out. No I/O,
no source names, no text: the complaint classifier lives in
:mod:`earshot.complaints`.

>>> from detector import RollingBaselineDetector, complaint_counts, episodes
"""

from .baseline import RollingBaselineDetector
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
    "RollingBaselineDetector",
    "acknowledgment_grade",
    "anomaly_windows",
    "calibration",
    "complaint_counts",
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
