"""The complaint classifier earshot uses: trained from the bundled labels on
first use, then cached.

The labelled corpus lives in ``data/labels/`` as tab-separated files with a
``label`` and a ``text`` column (and a ``service`` column where the posts
are about services other than ChatGPT), named ``<style>.<language>.tsv``:
``train/`` is what the classifier learns from, ``heldout/`` is written
separately and only ever used to measure it.

Each post is read as a report about its own service (its names masked, see
:mod:`detector.services`), and each complaint once more as read for another
service, where it is someone else's outage: so the model learns what a
complaint looks like, not which name it carries.

No model is kept in git. The first process that needs one trains it (a
second or two) and saves it under the cache folder
(``$EARSHOT_CACHE_DIR``, else ``$XDG_CACHE_HOME/earshot``, else
``~/.cache/earshot``), in a file named after the scikit-learn version and a
digest of the corpus, the model's parameters and the classifier's code: a new
scikit-learn, an edited corpus or a changed model each train afresh.

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
from pathlib import Path

import joblib
import pandas as pd
import sklearn

from detector import complaints, ngrams, patterns, services
from detector.complaints import NOT_A_COMPLAINT, ComplaintClassifier, RuleComplaintFilter
from detector.services import SELF, ServiceView

from .config import LABELS_DIR

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


def model_path(model: ComplaintClassifier, folder: Path = LABELS_DIR, cache: Path | None = None) -> Path:
    """The cache file for ``model`` trained on ``folder``'s training split.

    The name changes with the scikit-learn version, the model's parameters,
    the corpus and the classifier's own code (its rules are read at predict
    time, so a model fitted with other rules must not be reused).
    """
    digest = hashlib.sha256(repr(sorted(model.get_params().items())).encode())
    for module in (complaints, ngrams, patterns, services):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    for path in sorted((Path(folder) / "train").glob("*.tsv")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    name = f"complaints-sklearn{sklearn.__version__}-{digest.hexdigest()[:16]}.joblib"
    return (cache or cache_dir()) / name


def train_classifier(folder: Path = LABELS_DIR, **params) -> ComplaintClassifier:
    """A classifier fitted on the training split of ``folder``."""
    frame = training_frame(load_labels("train", folder))
    return ComplaintClassifier(**params).fit(frame["text"].tolist(), frame["label"].tolist())


def load_classifier(folder: Path = LABELS_DIR, cache: Path | None = None) -> ComplaintClassifier:
    """The cached classifier for this corpus and scikit-learn, training it if needed."""
    path = model_path(ComplaintClassifier(), folder, cache)
    if path.exists():
        try:
            return joblib.load(path)
        except Exception:  # a cache file cut short or from elsewhere: train a fresh one over it
            pass
    model = train_classifier(folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a process reading the cache never sees half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            joblib.dump(model, handle)
        os.replace(handle.name, path)
    except OSError as error:
        warnings.warn(
            f"could not cache the complaint classifier in {path.parent} ({error}); it will be trained again next time",
            stacklevel=2,
        )
    return model


def classifier_or_rules(
    folder: Path = LABELS_DIR, cache: Path | None = None
) -> ComplaintClassifier | RuleComplaintFilter:
    """The trained classifier, or the rules (with a warning) when it can be
    neither loaded nor trained, e.g. when the labelled corpus is missing."""
    try:
        return load_classifier(folder, cache)
    except (OSError, ValueError, KeyError) as error:
        warnings.warn(f"complaint classifier unavailable ({error}); using the rules instead", stacklevel=2)
        return RuleComplaintFilter()


@functools.cache
def default_classifier() -> ComplaintClassifier | RuleComplaintFilter:
    """The filter the CLI hands to collecting, backfill and ``classify``, built once per process."""
    return classifier_or_rules()
