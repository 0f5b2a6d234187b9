import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from detector import (
    RollingBaselineDetector,
    RuleComplaintFilter,
    complaint_counts,
    counts_by,
    episodes,
    lead_minutes,
    match_incidents,
    official_incidents,
    summarize,
)


def poisson_series(rate=0.3, days=8, seed=1, freq="5min"):
    index = pd.date_range("2023-11-01", periods=days * 288, freq=freq, tz="UTC")
    return pd.Series(np.random.default_rng(seed).poisson(rate, len(index)), index=index)


def test_fit_predict_returns_the_contract_columns_on_the_same_index():
    counts = poisson_series()
    result = RollingBaselineDetector().fit_predict(counts)
    assert result.index.equals(counts.index)
    assert str(result.index.tz) == "UTC"
    assert {"baseline", "score", "alert", "onset"} <= set(result.columns)
    assert result["alert"].dtype == bool and result["onset"].dtype == bool


def test_a_spike_opens_exactly_one_episode_at_its_first_bucket():
    counts = poisson_series()
    spike_at = 7 * 288 + 100
    counts.iloc[spike_at : spike_at + 10] += 12
    result = RollingBaselineDetector().fit_predict(counts)
    assert result["onset"].sum() == 1
    assert result.index[result["onset"]][0] == counts.index[spike_at]
    assert result["alert"].iloc[spike_at : spike_at + 10].all()
    assert not result["alert"].iloc[: spike_at].any()


def test_ordinary_poisson_noise_raises_no_alert():
    result = RollingBaselineDetector().fit_predict(poisson_series(rate=0.3, days=14, seed=7))
    assert not result["alert"].any()


def test_busy_hours_need_a_bigger_jump_than_quiet_ones():
    # 40 against a baseline of 30 is ordinary; 6 against a baseline of ~0 is not.
    busy = poisson_series(rate=30, seed=2)
    busy.iloc[-1] = 40
    quiet = poisson_series(rate=0.1, seed=3)
    quiet.iloc[-1] = 6
    detector = RollingBaselineDetector()
    assert not detector.fit_predict(busy)["alert"].iloc[-1]
    assert detector.fit_predict(quiet)["alert"].iloc[-1]


def test_hysteresis_keeps_one_episode_through_a_brief_dip_and_then_closes():
    counts = poisson_series(rate=0.2, seed=4)
    at = 7 * 288
    counts.iloc[at : at + 4] = 10
    counts.iloc[at + 4] = 0  # one quiet bucket inside the outage
    counts.iloc[at + 5 : at + 8] = 10
    counts.iloc[at + 8 :] = 0
    result = RollingBaselineDetector(close_after=3).fit_predict(counts)
    found = episodes(result)
    assert len(found) == 1
    step = pd.Timedelta("5min")
    assert found.loc[0, "start"] == counts.index[at] + step
    assert found.loc[0, "end"] == counts.index[at + 7 + 3] + step  # three quiet buckets, then known closed


def test_an_episode_still_open_at_the_end_has_no_end():
    counts = poisson_series(rate=0.2, seed=5)
    counts.iloc[-3:] = 15
    found = episodes(RollingBaselineDetector().fit_predict(counts))
    assert len(found) == 1 and pd.isna(found.loc[0, "end"])


def test_estimator_api_get_set_params_and_clone():
    detector = RollingBaselineDetector(threshold=6.0, window="3D")
    assert detector.get_params()["threshold"] == 6.0
    copy = clone(detector).set_params(threshold=3.0)
    assert copy.threshold == 3.0 and detector.threshold == 6.0 and copy.window == "3D"
    assert not hasattr(copy, "baseline_")
    copy.fit(poisson_series())
    assert len(copy.baseline_) == 8 * 288


def test_an_irregular_index_is_refused():
    counts = poisson_series().drop(poisson_series().index[5])
    with pytest.raises(ValueError, match="regular DatetimeIndex"):
        RollingBaselineDetector().fit_predict(counts)


def test_complaint_counts_fill_empty_buckets_with_zero():
    posts = pd.DataFrame(
        {
            "created_at": pd.to_datetime(["2023-11-08T13:41:10Z", "2023-11-08T13:44:59Z", "2023-11-08T13:58:00Z"], utc=True),
            "is_complaint": [1, 1, 1],
            "source": ["reddit", "forum", "reddit"],
        }
    )
    counts = complaint_counts(posts, "5min")
    assert list(counts) == [2, 0, 0, 1]
    assert counts.index[0] == pd.Timestamp("2023-11-08T13:40Z") and counts.index.freqstr == "5min"
    by_source = counts_by(posts, "source", "5min")
    assert by_source["reddit"].tolist() == [1, 0, 0, 1] and by_source["forum"].tolist() == [1, 0, 0, 0]


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


def test_lead_time_and_matching_against_official_posts():
    updates = pd.DataFrame(
        {
            "provider": "openai",
            "incident_id": ["a", "a", "b"],
            "title": ["Major outage", "Major outage", "Night blip"],
            "stage": ["investigating", "resolved", "investigating"],
            "posted_at": pd.to_datetime(["2023-11-08T13:54Z", "2023-11-08T15:46Z", "2023-11-09T03:00Z"], utc=True),
            "components": ["ChatGPT,API", "ChatGPT,API", "API"],
        }
    )
    incidents = official_incidents(updates)
    found = pd.DataFrame({"start": pd.to_datetime(["2023-11-08T13:45Z", "2023-11-10T12:00Z"], utc=True)})
    matches = match_incidents(found, incidents)
    assert list(matches["detected"]) == [True, False]
    assert matches.loc[0, "lead_minutes"] == 9.0
    assert lead_minutes(pd.Timestamp("2023-11-08T14:00Z"), pd.Timestamp("2023-11-08T13:54Z")) == -6.0
    summary = summarize(matches, found)
    assert summary["precision"] == 0.5 and summary["recall"] == 0.5 and summary["median_lead_minutes"] == 9.0


def test_one_alert_never_counts_for_two_incidents():
    updates = pd.DataFrame(
        {
            "provider": "openai",
            "incident_id": ["login", "assistants"],
            "title": ["Login errors", "Assistants API errors"],
            "stage": ["investigating", "investigating"],
            "posted_at": pd.to_datetime(["2024-08-21T16:27Z", "2024-08-21T18:00Z"], utc=True),
            "components": ["ChatGPT", "API"],
        }
    )
    found = pd.DataFrame({"start": pd.to_datetime(["2024-08-21T16:20Z"], utc=True)})
    matches = match_incidents(found, official_incidents(updates))
    assert list(matches["detected"]) == [True, False]
