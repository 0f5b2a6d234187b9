"""The complaint classifier: its corpus, its quality on the held-out split, its
cache, and the places that use it (collectors, CLI, detector counts)."""

import json
import warnings
from email.utils import format_datetime
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from collectors.collect import collect_all
from detector import first_reports
from earshot.analysis import detect
from earshot.complaints.model import (
    LABELS,
    ComplaintClassifier,
    RuleComplaintFilter,
    complaint_scores,
)
from earshot.complaints.scorer import ComplaintScorer
from earshot.complaints.services import ServiceView
from earshot.complaints.trained import (
    LABELS_DIR,
    classifier_or_rules,
    default_classifier,
    load_classifier,
    load_labels,
    load_scorer,
    model_path,
    read_as_reports,
    scorer_path,
)
from earshot.config import default_config_path, parse_config
from earshot.ingest import post_text
from earshot.store import load_posts, open_db, store_posts
from tests.conftest import SCIKIT_LEARN, earshot, imported_modules
from tests.test_collect import fast_client

LANGUAGES = {"en", "es", "de", "fr", "pt", "ja"}


def normalised(texts) -> set[str]:
    return {" ".join(t.lower().split()) for t in texts}


def test_the_corpus_is_big_labelled_and_multilingual():
    train, heldout = load_labels("train"), load_labels("heldout")
    assert len(train) + len(heldout) >= 2000
    for split in (train, heldout):
        assert set(split["label"]) == set(LABELS)
        assert set(split["lang"]) == LANGUAGES
        assert (split["text"].str.len() > 0).all()
    assert len(normalised(train["text"])) == len(train), "a post is in the training split twice"
    assert not normalised(train["text"]) & normalised(heldout["text"]), "a held-out post is also in training"
    assert set(train["style"]) >= {"reddit", "forum", "hackernews", "mastodon"}


def test_the_classifier_beats_the_rules_on_posts_it_never_saw():
    heldout = load_labels("heldout")
    heldout = heldout[heldout["service"] == "chatgpt"]
    model = default_classifier()
    learned = complaint_scores(heldout["label"], model.predict(heldout["text"]))
    rules = complaint_scores(heldout["label"], RuleComplaintFilter().predict(heldout["text"]))
    assert learned["f1"] >= 0.95, learned
    assert learned["f1"] > rules["f1"] + 0.2, (learned, rules)
    assert learned["problem_accuracy"] >= 0.9, learned
    for lang, rows in heldout.groupby("lang"):
        assert complaint_scores(rows["label"], model.predict(rows["text"]))["recall"] >= 0.8, lang


def test_posts_about_other_services_are_judged_for_the_service_they_are_collected_for():
    heldout = load_labels("heldout")
    others = heldout[heldout["service"] != "chatgpt"]
    assert set(others["lang"]) == LANGUAGES and others["service"].nunique() >= 4
    model = default_classifier()
    # Learned mostly from ChatGPT posts, read with each post's own service masked.
    scores = complaint_scores(others["label"], model.predict(read_as_reports(others)))
    assert scores["f1"] >= 0.9, scores
    # The same Claude complaints, judged for ChatGPT, are someone else's outage.
    claude = others[(others["service"] == "claude") & (others["label"] != "none")]
    assert (model.predict(claude["text"]) == "none").mean() >= 0.9


def test_classify_judges_for_the_service_asked_and_refuses_one_not_configured():
    lines = ["claude is down?", "Claude keeps saying 'Claude will return soon'", "chatgpt is down, claude works fine"]
    config = default_config_path().parent / "llms.toml"
    claude = earshot("classify", "--service", "claude", "--config", config, input="\n".join(lines) + "\n")
    assert [json.loads(line)["complaint"] for line in claude.stdout.splitlines()] == [True, True, False]
    chatgpt = earshot("classify", input="\n".join(lines) + "\n")
    assert [json.loads(line)["complaint"] for line in chatgpt.stdout.splitlines()] == [False, False, True]
    unknown = earshot("classify", "--service", "gemini", "--config", config, input="x\n")
    assert unknown.returncode == 2 and "no service 'gemini'" in unknown.stderr and "chatgpt, claude" in unknown.stderr


def test_verdicts_agree_with_predict_and_probabilities():
    texts = load_labels("heldout")["text"].tolist()[:60]
    model = default_classifier()
    verdicts = model.verdicts(texts)
    assert list(verdicts.columns) == ["complaint", "probability", "problem"]
    assert verdicts["probability"].between(0, 1).all()
    assert (verdicts["complaint"] == (verdicts["probability"] >= model.threshold)).all()
    assert verdicts.loc[verdicts["complaint"], "problem"].isin(LABELS[1:]).all()
    assert verdicts.loc[~verdicts["complaint"], "problem"].isna().all()
    labels = model.predict(texts)
    assert list(labels) == [p if c else "none" for c, p in zip(verdicts["complaint"], verdicts["problem"], strict=True)]
    assert model.verdicts([]).empty


@pytest.mark.slow
def test_training_is_reproducible_and_an_estimator():
    train = load_labels("train")
    texts, labels = train["text"].tolist(), train["label"].tolist()
    first = ComplaintClassifier(C=3.0).fit(texts, labels)
    again = clone(first).fit(texts, labels)
    assert again.get_params()["C"] == 3.0 and not hasattr(clone(first), "pipeline_")
    probe = load_labels("heldout")["text"].tolist()
    assert np.array_equal(first.predict_proba(probe), again.predict_proba(probe))
    with pytest.raises(ValueError, match="unknown labels"):
        ComplaintClassifier().fit(["a", "b"], ["down", "broken"])


@pytest.mark.slow
def test_the_model_is_trained_once_and_cached_per_corpus_and_sklearn(tmp_path):
    cache = tmp_path / "cache"
    model = load_classifier(cache=cache)
    (path,) = cache.iterdir()
    assert path == model_path(ComplaintClassifier(), cache=cache)
    assert path.name.startswith("complaints-sklearn") and path.suffix == ".joblib"
    stamp = path.stat().st_mtime_ns
    cached = load_classifier(cache=cache)
    assert path.stat().st_mtime_ns == stamp and list(cache.iterdir()) == [path]
    probe = load_labels("heldout")["text"].tolist()
    assert np.array_equal(cached.predict_proba(probe), model.predict_proba(probe))

    edited = tmp_path / "labels"
    for split in ("train", "heldout"):
        (edited / split).mkdir(parents=True)
        for tsv in (LABELS_DIR / split).glob("*.tsv"):
            (edited / split / tsv.name).write_bytes(tsv.read_bytes())
    with (edited / "train" / "reddit.en.tsv").open("a") as handle:
        handle.write("down\tchatgpt went poof again\n")
    assert model_path(ComplaintClassifier(), edited, cache) != path
    load_classifier(edited, cache)
    assert len(list(cache.iterdir())) == 2


def test_without_a_corpus_the_rules_take_over_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="using the rules instead"):
        fallback = classifier_or_rules(tmp_path / "nothing", tmp_path / "cache")
    assert isinstance(fallback, RuleComplaintFilter)
    assert fallback.classify("is chatgpt down?") == {"complaint": True, "probability": 1.0, "problem": "down"}


@pytest.mark.slow
def test_a_broken_cache_file_is_retrained(tmp_path):
    cache = tmp_path / "cache"
    path = model_path(ComplaintClassifier(), cache=cache)
    cache.mkdir()
    path.write_bytes(b"not a model")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = classifier_or_rules(cache=cache)
    assert isinstance(model, ComplaintClassifier)
    assert load_classifier(cache=cache).classify("is chatgpt down?")["complaint"] is True


def test_the_scorer_judges_every_labelled_post_as_the_classifier_it_was_made_from(tmp_path):
    model = load_classifier()
    model.scorer().save(tmp_path / "scorer.npz")
    scorer = ComplaintScorer.load(tmp_path / "scorer.npz")
    labels = pd.concat([load_labels("train"), load_labels("heldout")])
    texts = [*labels["text"], "", None, "x" * 5000, "svcname \x00 🙂\u3000down", "a b"]
    for view in (None, ServiceView.for_service("claude")):
        expected, got = model.verdicts(texts, view), scorer.verdicts(texts, view)
        assert np.allclose(got["probability"], expected["probability"], rtol=0, atol=1e-9)
        assert got["complaint"].tolist() == expected["complaint"].tolist()
        assert got["problem"].tolist() == expected["problem"].tolist()
        assert np.allclose(scorer.predict_proba(texts, view), model.predict_proba(texts, view), rtol=0, atol=1e-9)
    assert expected["complaint"].sum() > 500  # the corpus does exercise both answers
    assert list(scorer.classes) == list(model.classes_) and scorer.verdicts([]).empty


@pytest.mark.slow
def test_the_scorer_is_cached_beside_the_model_and_remade_when_broken(tmp_path):
    cache = tmp_path / "cache"
    scorer = load_scorer(cache=cache)
    assert sorted(p.suffix for p in cache.iterdir()) == [".joblib", ".npz"]
    path = scorer_path(cache=cache)
    assert path.name.startswith("scorer-sklearn") and path.exists()
    stamp = path.stat().st_mtime_ns
    probe = load_labels("heldout")["text"].tolist()
    assert np.array_equal(load_scorer(cache=cache).predict_proba(probe), scorer.predict_proba(probe))
    assert path.stat().st_mtime_ns == stamp
    path.write_bytes(b"PK\x03\x04 cut short")
    assert np.array_equal(load_scorer(cache=cache).predict_proba(probe), scorer.predict_proba(probe))
    assert ComplaintScorer.load(path).classify("is chatgpt down?")["complaint"] is True
    assert isinstance(default_classifier(), ComplaintScorer)


def test_a_scorer_whose_weights_do_not_fit_its_features_is_refused():
    scorer = load_classifier().scorer()
    with pytest.raises(ValueError, match="made with other rules"):
        params = {name: value for name, value in vars(scorer).items() if not name.startswith("_")}
        ComplaintScorer(**{**params, "coef": scorer.coef[:, :-1]})


def rss(items) -> bytes:
    entries = "".join(
        f"<item><title>{escape(text)}</title><link>https://mastodon.example/@u{i}/{i}</link>"
        f"<guid>https://mastodon.example/@u{i}/{i}</guid><author>u{i}@mastodon.example</author>"
        f"<pubDate>{format_datetime(stamp)}</pubDate><description></description></item>"
        for i, (text, stamp) in enumerate(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{entries}</channel></rss>'.encode()


def test_collectors_store_the_classifiers_verdict(server, tmp_path):
    heldout = load_labels("heldout")
    rules = RuleComplaintFilter()
    # Held-out posts the rules get wrong, so only the classifier stores them right.
    missed = heldout[rules.predict(heldout["text"]) != heldout["label"]].head(20)
    assert len(missed) >= 10
    stamps = pd.date_range("2024-03-01T10:00Z", periods=len(missed), freq="1min").to_pydatetime()
    server.expect_request("/tags/chatgpt.rss").respond_with_data(
        rss(zip(missed["text"], stamps, strict=True)), content_type="application/rss+xml"
    )
    config = parse_config(
        {
            "services": [{"name": "chatgpt", "terms": ["chatgpt"]}],
            "sources": [
                {"name": "toots", "kind": "rss", "url": server.url_for("/tags/chatgpt.rss"), "service": "chatgpt"}
            ],
        }
    )
    db = open_db(tmp_path / "earshot.db")
    with fast_client() as client:
        (report,) = collect_all(db, config, client, default_classifier())
    assert report.ok and report.new == len(missed)
    stored = load_posts(db)
    expected = default_classifier().verdicts([post_text(row) for row in stored.to_dict("records")])
    assert stored["is_complaint"].astype(bool).tolist() == expected["complaint"].tolist()
    assert stored["problem"].fillna("none").tolist() == expected["problem"].fillna("none").tolist()
    by_text = dict(zip(stored["title"], stored["problem"].fillna("none"), strict=True))
    right = sum(by_text[text] == label for text, label in zip(missed["text"], missed["label"], strict=True))
    assert right >= 0.7 * len(missed)


def test_classify_reads_stdin_in_any_language_and_rules_on_request():
    lines = [
        "anyone else getting 'network error' on chatgpt?",
        "ChatGPT wrote my error handler",
        "ChatGPT no carga desde hace un rato",
        "ChatGPTが落ちてるっぽい、全然開かない",
    ]
    learned = [json.loads(line) for line in earshot("classify", input="\n".join(lines) + "\n").stdout.splitlines()]
    assert [(v["complaint"], v["problem"]) for v in learned] == [
        (True, "errors"),
        (False, None),
        (True, "down"),
        (True, "down"),
    ]
    assert all(0 < v["probability"] < 1 for v in learned) and [v["text"] for v in learned] == lines
    ruled = earshot("classify", "--rules", input="\n".join(lines) + "\n")
    assert {json.loads(line)["probability"] for line in ruled.stdout.splitlines()} <= {0.0, 1.0}


def test_reclassify_rewrites_only_verdicts_that_changed(tmp_path):
    db = open_db(tmp_path / "earshot.db")
    texts = ["is chatgpt down?", "ChatGPT wrote me a lovely poem", "API returning 502s on every call"]
    store_posts(
        db,
        [
            {
                "source": "s",
                "post_id": str(i),
                "created_at": "2024-03-01T10:00:00+00:00",
                "title": text,
                "service": "chatgpt",
                "is_complaint": 0,
                "problem": None,
            }
            for i, text in enumerate(texts)
        ],
    )
    result = earshot("classify", "--reclassify", "--db", tmp_path / "earshot.db")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3 posts classified again, 2 changed"
    stored = load_posts(db)
    assert stored["problem"].fillna("none").tolist() == ["down", "none", "api"]
    again = earshot("classify", "--reclassify", "--db", tmp_path / "earshot.db")
    assert again.stdout.strip() == "3 posts classified again, 0 changed"


def complaints(stamps, authors) -> pd.DataFrame:
    return pd.DataFrame({"created_at": pd.to_datetime(stamps, utc=True), "author_hash": authors, "is_complaint": 1})


def test_one_account_posting_forty_times_in_an_hour_is_one_report():
    stamps = pd.date_range("2024-03-01T10:03Z", periods=40, freq="80s")  # 10:03:00 to 10:55:00
    kept = first_reports(complaints(stamps, ["loud"] * 40), within="1h")
    assert kept["created_at"].tolist() == [pd.Timestamp("2024-03-01T10:03Z")]
    later = first_reports(complaints([*stamps, pd.Timestamp("2024-03-01T12:00Z")], ["loud"] * 41), within="1h")
    assert later["created_at"].tolist() == [pd.Timestamp("2024-03-01T10:03Z"), pd.Timestamp("2024-03-01T12:00Z")]
    assert len(first_reports(complaints(stamps, [f"user{i}" for i in range(40)]), within="1h")) == 40
    assert len(first_reports(complaints(stamps, [None] * 40), within="1h")) == 40


def test_detection_counts_unique_reporters_unless_told_not_to(tmp_path):
    db = open_db(tmp_path / "earshot.db")
    rows = [
        {
            "source": "forum",
            "post_id": f"q{i}",
            "created_at": (pd.Timestamp("2024-03-01T00:00Z") + pd.Timedelta(minutes=30 * i)).isoformat(),
            "author_hash": f"user{i}",
            "service": "chatgpt",
            "is_complaint": 1,
            "problem": "down",
            "title": "is chatgpt down?",
        }
        for i in range(2 * 48 * 3)
    ]
    flood = pd.date_range("2024-03-04T03:00Z", periods=40, freq="20s")
    rows += [
        {
            "source": "forum",
            "post_id": f"f{i}",
            "created_at": stamp.isoformat(),
            "author_hash": "loud",
            "service": "chatgpt",
            "is_complaint": 1,
            "problem": "errors",
            "title": "network error AGAIN",
        }
        for i, stamp in enumerate(flood)
    ]
    store_posts(db, rows)
    services = [{"name": "chatgpt", "terms": ["chatgpt"]}]
    unique = parse_config({"services": services, "sources": [], "detector": {"window": "2D"}})
    raw = parse_config(
        {"services": services, "sources": [], "detector": {"window": "2D"}, "counts": {"unique_reporters": False}}
    )
    assert detect(db, unique, "chatgpt")[1].empty
    (episode,) = detect(db, raw, "chatgpt")[1].itertuples()
    assert episode.first_bucket == flood[0].floor("5min")


@pytest.mark.slow
def test_an_unwritable_cache_still_gives_the_classifier(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="could not cache the complaint classifier"):
        model = classifier_or_rules(cache=blocker)
    assert isinstance(model, ComplaintClassifier)


def test_classify_judges_with_the_cached_scorer_without_loading_scikit_learn(classifier):
    import subprocess
    import sys

    # `classifier` has cached the session's scorer, as any earlier run would have.
    ran = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "earshot", "classify"],
        input="chatgpt is down again\nchatgpt wrote my poem\n",
        capture_output=True,
        text=True,
    )
    assert [json.loads(line)["complaint"] for line in ran.stdout.splitlines()] == [True, False]
    imported = imported_modules(ran.stderr)
    assert "earshot.complaints.scorer" in imported
    assert not {m for m in imported if m.split(".")[0] in SCIKIT_LEARN}


@pytest.mark.parametrize(
    "text, complaint, problem",
    [
        ("anyone else getting 'network error' on chatgpt?", True, "errors"),
        ("API returning 502s", True, "api"),
        ("chatgpt is at capacity again", True, "capacity"),
        ("can't log in to chatgpt", True, "login"),
        ("Is ChatGPT down?", True, "down"),
        ("ChatGPT wrote my error handler", False, None),
        ("OpenAI's outage last week cost us", False, None),
        ("GPT-5 launch is down to the wire", False, None),
    ],
)
def test_rule_filter_examples(text, complaint, problem):
    verdict = RuleComplaintFilter().classify(text)
    assert (verdict["complaint"], verdict["problem"]) == (complaint, problem)
