"""The complaint classifier earshot uses: trained from the bundled labels on
first use, then cached.

The labelled corpus lives in ``earshot/data/labels/`` as tab-separated files with a
``label`` and a ``text`` column (and a ``service`` column where the posts
are about services other than ChatGPT), named ``<style>.<language>.tsv``:
``train/`` is what the classifier learns from, ``heldout/`` is written
separately and only ever used to measure it.

Each post is read as a report about its own service (its names masked, see
:mod:`earshot.complaints.services`), and each complaint once more as read for another
service, where it is someone else's outage: so the model learns what a
complaint looks like, not which name it carries.

No model is kept in git. The first process that needs one trains it (a
second or two) and saves it under the cache folder
(``$EARSHOT_CACHE_DIR``, else ``$XDG_CACHE_HOME/earshot``, else
``~/.cache/earshot``), in a file named after the scikit-learn version and a
digest of the corpus, the model's parameters and the classifier's code: a new
scikit-learn, an edited corpus or a changed model each train afresh. Beside
it goes the model's :class:`~earshot.complaints.scorer.ComplaintScorer` (``.npz``),
which is what collecting, backfill and ``classify`` judge posts with: once it
is cached, they never import scikit-learn, which saves each process about
90 MB and a second (this module imports scikit-learn only to train or load
the full model).

>>> labels = load_labels()
>>> sorted(labels.columns)
['label', 'lang', 'service', 'style', 'text']
>>> sorted(labels["label"].unique())
['api', 'capacity', 'down', 'errors', 'login', 'none', 'slow']
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..config import LABELS_DIR
from .rules import NOT_A_COMPLAINT, RuleComplaintFilter
from .scorer import ComplaintScorer
from .services import SELF, ServiceView

if TYPE_CHECKING:
    from .model import ComplaintClassifier

# The code a cached model depends on: its rules are read at predict time, so a
# model fitted with other rules (or counted n-grams) must not be reused.
MODEL_CODE = ("model", "grams", "ngrams", "patterns", "rules", "scorer", "services")

DEFAULT_SERVICE = "chatgpt"


def load_labels(split: str = "train", folder: Path = LABELS_DIR) -> pd.DataFrame:
    """The labelled posts of one split: ``text``, ``label``, ``service`` (the
    service the label judges the post for), ``style``, ``lang``."""
    frames = []
    for path in sorted((Path(folder) / split).glob("*.tsv")):
        style, lang = path.stem.split(".")
        frame = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
        if "service" not in frame:
            frame["service"] = DEFAULT_SERVICE
        frames.append(frame.assign(style=style, lang=lang))
    if not frames:
        raise FileNotFoundError(f"no labelled posts in {Path(folder) / split}")
    return pd.concat(frames, ignore_index=True)[["text", "label", "service", "style", "lang"]]


def read_as_reports(labels: pd.DataFrame, views: dict | None = None) -> list[str]:
    """Each labelled post read through its own service's view (``views``:
    name to :class:`ServiceView`; the known services' own otherwise)."""
    views = views or {}
    out = [""] * len(labels)
    for service, rows in labels.groupby("service").groups.items():
        view = views.get(service) or ServiceView.for_service(service)
        for at, text in zip(rows, view.mask(labels.loc[rows, "text"]), strict=True):
            out[labels.index.get_loc(at)] = text
    return out


def training_frame(labels: pd.DataFrame) -> pd.DataFrame:
    """What the classifier learns from: every post read for its own service,
    then every complaint that names its service read for another one, as not
    a complaint. ``origin`` is the row of ``labels`` each line comes from.

    >>> posts = pd.DataFrame({"text": ["is claude down?", "network error"], "label": ["down", "errors"],
    ...                       "service": ["claude", "chatgpt"]})
    >>> training_frame(posts)[["text", "label"]].values.tolist()
    [['is svcname down?', 'down'], ['network error svcerror', 'errors'], ['is othersvc down?', 'none']]
    """
    own = pd.DataFrame(
        {"text": read_as_reports(labels), "label": labels["label"].to_numpy(), "origin": range(len(labels))}
    )
    named = (labels["label"].to_numpy() != NOT_A_COMPLAINT) & own["text"].str.contains(SELF, regex=False).to_numpy()
    complaints = labels[named]
    elsewhere = complaints.assign(service=[_another(s) for s in complaints["service"]])
    other = pd.DataFrame(
        {"text": read_as_reports(elsewhere), "label": NOT_A_COMPLAINT, "origin": own["origin"][named].to_numpy()}
    )
    return pd.concat([own, other], ignore_index=True)


def _another(service: str) -> str:
    return "claude" if service == DEFAULT_SERVICE else DEFAULT_SERVICE


def cache_dir() -> Path:
    """Where trained models are kept."""
    if os.environ.get("EARSHOT_CACHE_DIR"):
        return Path(os.environ["EARSHOT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "earshot"


def _digest(folder: Path) -> hashlib._Hash:
    """A digest of the classifier's code and of ``folder``'s training split."""
    digest = hashlib.sha256()
    for module in MODEL_CODE:
        digest.update(Path(__file__).with_name(f"{module}.py").read_bytes())
    digest.update(Path(__file__).read_bytes())
    for path in sorted((Path(folder) / "train").glob("*.tsv")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest


def _sklearn_version() -> str:
    return metadata.version("scikit-learn")  # read without importing it


def model_path(model: ComplaintClassifier, folder: Path = LABELS_DIR, cache: Path | None = None) -> Path:
    """The cache file for ``model`` trained on ``folder``'s training split.

    The name changes with the scikit-learn version, the model's parameters,
    the corpus and the classifier's own code.
    """
    digest = _digest(folder)
    digest.update(repr(sorted(model.get_params().items())).encode())
    name = f"complaints-sklearn{_sklearn_version()}-{digest.hexdigest()[:16]}.joblib"
    return (cache or cache_dir()) / name


def scorer_path(folder: Path = LABELS_DIR, cache: Path | None = None) -> Path:
    """The cache file for the default model's scorer, named as :func:`model_path`
    names the model (its parameters are in the hashed code)."""
    name = f"scorer-sklearn{_sklearn_version()}-{_digest(folder).hexdigest()[:16]}.npz"
    return (cache or cache_dir()) / name


def train_classifier(folder: Path = LABELS_DIR, **params) -> ComplaintClassifier:
    """A classifier fitted on the training split of ``folder``."""
    from .model import ComplaintClassifier

    frame = training_frame(load_labels("train", folder))
    return ComplaintClassifier(**params).fit(frame["text"].tolist(), frame["label"].tolist())


def load_classifier(folder: Path = LABELS_DIR, cache: Path | None = None) -> ComplaintClassifier:
    """The cached classifier for this corpus and scikit-learn, training it if needed."""
    import joblib

    from .model import ComplaintClassifier

    path = model_path(ComplaintClassifier(), folder, cache)
    if path.exists():
        try:
            return joblib.load(path)
        except Exception:  # a cache file cut short or from elsewhere: train a fresh one over it
            pass
    model = train_classifier(folder)
    _write_cache(path, lambda handle: joblib.dump(model, handle))
    return model


def load_scorer(folder: Path = LABELS_DIR, cache: Path | None = None) -> ComplaintScorer:
    """The cached scorer of the default classifier, made from the classifier
    (loaded or trained, see :func:`load_classifier`) when it is not cached yet."""
    path = scorer_path(folder, cache)
    if path.exists():
        try:
            return ComplaintScorer.load(path)
        except Exception:  # cut short, or from other code: made afresh over it
            pass
    scorer = load_classifier(folder, cache).scorer()
    _write_cache(path, scorer.save)
    return scorer


def _write_cache(path: Path, write) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a process reading the cache never sees half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            write(handle)
        os.replace(handle.name, path)
    except OSError as error:
        warnings.warn(
            f"could not cache the complaint classifier in {path.parent} ({error}); it will be trained again next time",
            stacklevel=3,
        )


def classifier_or_rules(
    folder: Path = LABELS_DIR, cache: Path | None = None
) -> ComplaintClassifier | RuleComplaintFilter:
    """The trained classifier, or the rules (with a warning) when it can be
    neither loaded nor trained, e.g. when the labelled corpus is missing."""
    return _or_rules(load_classifier, folder, cache)


def scorer_or_rules(folder: Path = LABELS_DIR, cache: Path | None = None) -> ComplaintScorer | RuleComplaintFilter:
    """The classifier's scorer, or the rules (with a warning) as :func:`classifier_or_rules`."""
    return _or_rules(load_scorer, folder, cache)


def _or_rules(load, folder, cache):
    try:
        return load(folder, cache)
    except (OSError, ValueError, KeyError) as error:
        warnings.warn(f"complaint classifier unavailable ({error}); using the rules instead", stacklevel=3)
        return RuleComplaintFilter()


@functools.cache
def default_classifier() -> ComplaintScorer | RuleComplaintFilter:
    """The filter the CLI hands to collecting, backfill and ``classify``, built
    once per process: the classifier's scorer, which gives its verdicts."""
    return scorer_or_rules()
