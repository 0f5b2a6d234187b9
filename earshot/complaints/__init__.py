"""The complaint classifier: is a post someone's report of an outage, and of what?

Every filter here answers in the same shape (``verdicts(texts)``, ``predict``,
``classify``):

- :class:`RuleComplaintFilter` (:mod:`.rules`): hand-written patterns, no
  training; the fallback.
- :class:`~earshot.complaints.model.ComplaintClassifier` (:mod:`.model`): the
  scikit-learn pipeline trained from ``earshot/data/labels``.
- :class:`ComplaintScorer` (:mod:`.scorer`): that pipeline's learned weights
  scored in numpy, so collecting never imports scikit-learn.

:func:`earshot.complaints.trained.default_classifier` says which one the
collectors and ``earshot classify`` use. Importing this package loads no
scikit-learn; :mod:`.model` and :mod:`.ngrams` do.

>>> from earshot.complaints import RuleComplaintFilter
>>> RuleComplaintFilter().classify("chatgpt is down again, 502 on every request")["complaint"]
True
"""

from .rules import LABELS, PROBLEM_TYPES, RuleComplaintFilter, verdict_records
from .scorer import ComplaintScorer
from .services import ServiceView

__all__ = ["LABELS", "PROBLEM_TYPES", "ComplaintScorer", "RuleComplaintFilter", "ServiceView", "verdict_records"]
