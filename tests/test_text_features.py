"""The fast text features equal the slow ones they stand in for, on every labelled post."""

import re

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from earshot.complaints.ngrams import CharNgramCounts, WordNgramCounts
from earshot.complaints.patterns import PatternSet
from earshot.complaints.rules import _RULES, CUE_PATTERNS, PAST_PATTERN, PROBLEM_PATTERNS
from earshot.complaints.services import ServiceView
from earshot.complaints.trained import load_labels

ODD = [
    "",
    " ",
    "a",
    "tab\there\nnew  line",
    "gpt-4o down!!!",
    "\u3000全角スペース\u3000落ちてる",
    "emoji 🔥🔥 ok",
    "x\x00y",
    "ä" * 50,
    "https://example.com/a?b=c",
]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    texts = load_labels("train")["text"].tolist() + load_labels("heldout")["text"].tolist()
    return [*ServiceView.for_service("chatgpt").mask(texts), *ServiceView.for_service("claude").mask(texts), *ODD]


def _by_name(matrix, names) -> dict:
    coo = matrix.tocoo()
    return {(int(r), str(names[c])): float(v) for r, c, v in zip(coo.row, coo.col, coo.data, strict=True)}


@pytest.mark.parametrize(
    ("ours", "sklearns"),
    [
        (CharNgramCounts((2, 4)), CountVectorizer(analyzer="char_wb", ngram_range=(2, 4), lowercase=False)),
        (
            CharNgramCounts((1, 3), min_df=2),
            CountVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, lowercase=False),
        ),
        (WordNgramCounts((1, 2)), CountVectorizer(ngram_range=(1, 2), lowercase=False, token_pattern=r"(?u)\b\w+\b")),
        (
            WordNgramCounts((1, 2), min_df=3),
            CountVectorizer(ngram_range=(1, 2), min_df=3, lowercase=False, token_pattern=r"(?u)\b\w+\b"),
        ),
    ],
)
def test_ngram_counts_are_scikit_learns(corpus, ours, sklearns):
    half = len(corpus) // 2
    fitted, unseen = corpus[:half], corpus[half:]
    ours.fit(fitted)
    sklearns.fit(fitted)
    assert sorted(ours.get_feature_names_out()) == sorted(sklearns.get_feature_names_out())
    for texts in (fitted, unseen, unseen[:3], [], [""], ["", "!!!", "\u3000"], ["zzzqqq"]):
        mine, theirs = ours.transform(texts), sklearns.transform(texts)
        assert mine.shape == theirs.shape
        assert _by_name(mine, ours.get_feature_names_out()) == _by_name(theirs, sklearns.get_feature_names_out())


def test_ngram_counts_survive_pickling_and_many_chunks(corpus):
    import pickle

    counts = CharNgramCounts().fit(corpus[:500])
    again = pickle.loads(pickle.dumps(counts))
    assert "_lookup" not in again.__dict__ or again.__dict__["_lookup"] is None
    many = corpus * 2  # several chunks of 1,024
    assert (again.transform(many) != counts.transform(many)).nnz == 0
    assert (counts.transform(many)[len(corpus) :] != counts.transform(corpus)).nnz == 0


def test_the_pattern_set_finds_what_every_pattern_finds(corpus):
    patterns = {**PROBLEM_PATTERNS, "past": PAST_PATTERN, **CUE_PATTERNS}
    compiled = [re.compile(p) for p in patterns.values()]
    joined = [" ".join(corpus[i : i + 5]) for i in range(0, len(corpus), 5)]
    for text in corpus + joined:
        assert _RULES.hits(text) == [bool(p.search(text)) for p in compiled], text
    assert np.mean([any(_RULES.hits(t)) for t in corpus]) > 0.3  # the corpus does exercise the patterns


def test_patterns_without_a_literal_are_always_searched():
    rules = PatternSet({"digits": r"\d{3}", "word": r"\bdown\b|[a-z]+ing"})
    assert rules.needles("digits") == () and rules.needles("word") == (("down",), ("ing",))
    assert rules.matching("error 503") == ["digits"]
    assert rules.matching("it is failing") == ["word"]
    assert rules.matching("downtime") == []
    assert rules.first("down 503") == "digits" and rules.first("down") == "word"
    assert PatternSet({}).hits("anything") == []


def test_a_service_view_reads_a_post_once_however_often_asked():
    claude = ServiceView.for_service("claude")
    texts = ["Claude will return soon", "claude code: overloaded_error (529)", "Is ChatGPT or Claude down?", "octopus"]
    once = claude.mask(texts)
    assert once == [
        "svcname will return soon svcerror",
        "svcname: overloaded_error svcerror (529 svcerror)",
        "is othersvc or svcname down?",
        "octopus",
    ]
    assert claude.mask(once) == once
