import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from detector import (
    RollingBaselineDetector,
    acknowledgment_grade,
    anomaly_windows,
    calibration,
    complaint_counts,
    counts_by,
    episodes,
    first_reports,
    lead_minutes,
    match_incidents,
    nab_raw_score,
    nab_score,
    official_incidents,
    summarize,
)
from detector.simulate import daily_rhythm, mention_counts
from earshot.roof.simulate import simulate_scenario

DAY = 288  # 5-minute buckets


def poisson_series(rate=0.3, days=8, seed=1, freq="5min", start="2023-11-01"):
    index = pd.date_range(start, periods=days * 288, freq=freq, tz="UTC")
    return pd.Series(np.random.default_rng(seed).poisson(rate, len(index)), index=index)


def seasonal_frame(days=21, seed=2, rates=(0.4, 0.1, 0.08)):
    """Several sources with a daily and weekly rhythm (busy at 17:00 UTC, quiet at 05:00)."""
    index = pd.date_range("2024-03-04", periods=days * DAY, freq="5min", tz="UTC")
    rng = np.random.default_rng(seed)
    rhythm = daily_rhythm(index)
    return pd.DataFrame({f"s{i}": rng.poisson(r * rhythm) for i, r in enumerate(rates)}, index=index)


def test_fit_predict_returns_the_contract_columns_on_the_same_index():
    counts = poisson_series()
    result = RollingBaselineDetector().fit_predict(counts)
    assert result.index.equals(counts.index)
    assert str(result.index.tz) == "UTC"
    assert {"baseline", "score", "alert", "onset", "state", "count", "dispersion", "sources"} <= set(result.columns)
    assert result["alert"].dtype == bool and result["onset"].dtype == bool
    assert set(result["state"].astype(str)) <= {"none", "possible", "confirmed"}


def test_a_spike_opens_exactly_one_episode_at_its_first_bucket():
    counts = poisson_series()
    spike_at = 7 * DAY + 100
    counts.iloc[spike_at : spike_at + 10] += 12
    result = RollingBaselineDetector().fit_predict(counts)
    assert result["onset"].sum() == 1
    assert result.index[result["onset"]][0] == counts.index[spike_at]
    assert result["alert"].iloc[spike_at : spike_at + 10].all()
    assert not result["alert"].iloc[:spike_at].any()
    (episode,) = episodes(result).itertuples()
    assert episode.level == "confirmed" and episode.start == counts.index[spike_at] + pd.Timedelta("5min")


def test_ordinary_noise_raises_no_alert():
    assert not RollingBaselineDetector().fit_predict(poisson_series(rate=0.3, days=14, seed=7))["alert"].any()
    assert not RollingBaselineDetector().fit_predict(seasonal_frame(days=21))["alert"].any()


def test_busy_hours_need_a_bigger_jump_than_quiet_ones():
    # 40 against a baseline of 30 is ordinary; 6 against a baseline of ~0.1 is not.
    busy = poisson_series(rate=30, seed=2)
    busy.iloc[-1] = 40
    quiet = poisson_series(rate=0.1, seed=3)
    quiet.iloc[-1] = 6
    detector = RollingBaselineDetector(clustering=1.0)  # Poisson counts: nothing clusters
    assert not detector.fit_predict(busy)["alert"].iloc[-1]
    assert detector.fit_predict(quiet)["alert"].iloc[-1]


def test_the_baseline_follows_the_hour_of_the_day():
    counts = seasonal_frame(days=21, rates=(4.0,))["s0"]
    result = RollingBaselineDetector().fit_predict(counts)
    last_week = result.iloc[-7 * DAY :]
    by_hour = last_week["baseline"].groupby(last_week.index.hour).mean()
    assert by_hour[17] > 4 * by_hour[5]
    # The same count is ordinary at the busy hour and an alarm at the quiet one.
    busy, quiet = counts.copy(), counts.copy()
    at_busy = counts.index.get_loc(pd.Timestamp("2024-03-24T17:00Z"))
    at_quiet = counts.index.get_loc(pd.Timestamp("2024-03-24T05:00Z"))
    peak = int(result["baseline"].iloc[at_busy] * 2.5) + 1
    busy.iloc[at_busy] = quiet.iloc[at_quiet] = peak
    assert not RollingBaselineDetector(clustering=1.0).fit_predict(busy)["alert"].iloc[at_busy]
    assert RollingBaselineDetector(clustering=1.0).fit_predict(quiet)["alert"].iloc[at_quiet]


def test_a_past_outage_does_not_inflate_the_baseline_after_it():
    counts = poisson_series(rate=0.5, days=14, seed=11)
    calm = RollingBaselineDetector().fit_predict(counts)
    counts.iloc[8 * DAY : 8 * DAY + 24] = 60  # a two-hour outage, 60 complaints a bucket
    stormy = RollingBaselineDetector().fit_predict(counts)
    after = slice(9 * DAY, None)
    assert (stormy["baseline"].iloc[after] / calm["baseline"].iloc[after]).max() < 1.25


def test_overdispersed_counts_learn_their_dispersion_and_stay_quiet():
    index = pd.date_range("2024-03-04", periods=14 * DAY, freq="5min", tz="UTC")
    rng = np.random.default_rng(5)
    counts = pd.Series(rng.poisson(50 * rng.gamma(5, 0.2, len(index))), index=index)  # dispersion 0.2
    # The count model's own reading (no calibration on the series' tail), learned and not.
    result = RollingBaselineDetector(clustering=1.0, tail_window=None).fit_predict(counts)
    assert 0.1 < result["dispersion"].iloc[-1] < 0.35
    assert result["onset"].sum() <= 1
    poisson = RollingBaselineDetector(dispersion=0.0, clustering=1.0, tail_window=None).fit_predict(counts)
    assert poisson["onset"].sum() > 5 * max(result["onset"].sum(), 1)


def threads(days=14, seed=0, rate=0.05, branching=0.6):
    """Complaints in threads: each draws Poisson(branching) replies a few minutes later, and they draw theirs."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-03-04", periods=days * DAY, freq="5min", tz="UTC")
    counts = rng.poisson(rate, len(index)).astype(float)
    parents = counts.copy()
    while parents.sum():
        children = np.zeros_like(parents)
        for at in np.flatnonzero(parents):
            for _ in range(rng.poisson(branching * parents[at])):
                later = at + int(rng.exponential(1.5)) + 1
                if later < len(children):
                    children[later] += 1
        counts += children
        parents = children
    return pd.Series(counts, index=index)


def test_clustered_complaints_learn_their_clustering_and_stay_quieter_than_poisson_reading():
    counts = threads(seed=1, rate=0.1, branching=0.7)
    learned = RollingBaselineDetector(tail_window=None).fit_predict(counts)
    assert learned["clustering"].iloc[-1] > 2.0  # replies make the hourly counts vary more than Poisson
    poisson = RollingBaselineDetector(clustering=1.0, tail_window=None).fit_predict(counts)
    assert poisson["onset"].sum() >= 3 > learned["onset"].sum()
    # The stronger the clustering learned, the higher the count needed to alert.
    level = RollingBaselineDetector().alert_level(learned).iloc[-1]
    assert level > RollingBaselineDetector(clustering=1.0).alert_level(poisson).iloc[-1]


def test_three_complaints_of_one_rare_type_stand_out_where_the_pooled_count_cannot_tell():
    index = pd.date_range("2024-03-04", periods=14 * DAY, freq="5min", tz="UTC")
    rng = np.random.default_rng(8)
    # 0.15 complaints a quarter hour, of every kind, and far fewer about the API.
    shares = {"down": 0.6, "errors": 0.3, "api": 0.01, "": 0.09}
    sources = ["forum", "reddit", "hn"]
    columns = pd.MultiIndex.from_product([sources, list(shares)])
    counts = pd.DataFrame({(s, p): rng.poisson(0.05 / 3 * shares[p], len(index)) for s, p in columns}, index=index)
    at = len(index) - 3
    for offset, source in enumerate(sources):  # three developers on three sites, within a quarter hour
        counts.iloc[at + offset, counts.columns.get_loc((source, "api"))] += 1
    by_type = RollingBaselineDetector().fit_predict(counts)
    pooled = RollingBaselineDetector().fit_predict(counts.T.groupby(level=0).sum().T)
    assert by_type["alert"].iloc[-1] and by_type["problem"].iloc[-1] == "api"
    assert not pooled["alert"].iloc[-1]
    assert episodes(by_type)["problems"].iloc[-1] == ["api"]


def test_a_bucket_still_filling_is_scored_for_its_elapsed_part_and_not_kept():
    frame = seasonal_frame(days=10, seed=3)
    frame.iloc[-1] += 4  # a burst in the newest bucket, 2 minutes into it
    until = frame.index[-1] + pd.Timedelta(minutes=2)
    whole = RollingBaselineDetector().fit_predict(frame)
    partial = RollingBaselineDetector().fit_predict(frame, until=until)
    assert partial["elapsed"].iloc[-1] == pytest.approx(0.4)
    assert partial["baseline"].iloc[-1] == pytest.approx(0.4 * whole["baseline"].iloc[-1])
    assert partial["score"].iloc[-1] > whole["score"].iloc[-1]
    found = episodes(partial)
    assert (found["start"] <= until).all()
    # The partial bucket is not in the state: updating with it whole gives the batch result.
    live = RollingBaselineDetector().fit(frame.iloc[:-1])
    live.update(frame.iloc[-1:], until=until)
    pd.testing.assert_frame_equal(live.update(frame.iloc[-1:]), whole.iloc[-1:])


def test_independent_sources_add_up_and_one_source_alone_needs_more():
    frame = pd.DataFrame(0, index=poisson_series().index, columns=["forum", "reddit", "hn"])
    at = 7 * DAY + 150
    alone = frame.copy()
    alone.iloc[at, 0] = 2  # two complaints in one quiet source
    together = alone.copy()
    together.iloc[at, 1:] = 1  # and one in each of the others
    detector = RollingBaselineDetector()
    alone_result = detector.fit_predict(alone)
    assert not alone_result["alert"].any() and alone_result["sources"].iloc[at] == 1
    # The same two, on their own, with no other source to hear from.
    assert RollingBaselineDetector().fit_predict(alone["forum"])["score"].iloc[at] > alone_result["score"].iloc[at]
    together_result = detector.fit_predict(together)
    assert together_result["onset"].iloc[at] and together_result["sources"].iloc[at] == 3


def test_hysteresis_keeps_one_episode_through_a_brief_dip_and_then_closes():
    counts = poisson_series(rate=0.2, seed=4)
    at = 7 * DAY
    counts.iloc[at : at + 4] = 10
    counts.iloc[at + 4] = 0  # one quiet bucket inside the outage
    counts.iloc[at + 5 : at + 8] = 10
    counts.iloc[at + 8 :] = 0
    result = RollingBaselineDetector(close_after=3, scales=(1,)).fit_predict(counts)
    found = episodes(result)
    assert len(found) == 1
    step = pd.Timedelta("5min")
    assert found.loc[0, "start"] == counts.index[at] + step
    assert found.loc[0, "end"] == counts.index[at + 7 + 3] + step  # three quiet buckets, then known closed


def test_tiers_confirm_after_a_run_or_at_once_on_strong_evidence():
    counts = pd.Series(0, index=poisson_series().index)
    at = 7 * DAY
    counts.iloc[at : at + 4] = [4, 4, 4, 0]  # each bucket alone: possible, not overwhelming
    result = RollingBaselineDetector(scales=(1,), confirm_after=3, confirm_threshold=50).fit_predict(counts)
    assert result["state"].iloc[at : at + 3].tolist() == ["possible", "possible", "confirmed"]
    strong = RollingBaselineDetector(scales=(1,), confirm_threshold=8).fit_predict(
        counts.where(counts.index != counts.index[at], 12)
    )
    assert strong["state"].iloc[at] == "confirmed" and strong["onset"].iloc[at]


def test_a_cooldown_holds_back_a_second_episode():
    counts = pd.Series(0, index=poisson_series().index)
    at = 7 * DAY
    counts.iloc[at] = counts.iloc[at + 8] = counts.iloc[at + 40] = 12
    held = RollingBaselineDetector(scales=(1,), close_after=2, cooldown=12, tail_window=None).fit_predict(counts)
    assert held["onset"].sum() == 2 and held["onset"].iloc[at] and held["onset"].iloc[at + 40]
    free = RollingBaselineDetector(scales=(1,), close_after=2, cooldown=0, tail_window=None).fit_predict(counts)
    assert free["onset"].sum() == 3


def test_an_episode_still_open_at_the_end_has_no_end():
    counts = poisson_series(rate=0.2, seed=5)
    counts.iloc[-3:] = 15
    found = episodes(RollingBaselineDetector().fit_predict(counts))
    assert len(found) == 1 and pd.isna(found.loc[0, "end"])


def test_missing_buckets_are_not_silence():
    counts = poisson_series(rate=2.0, days=10, seed=6).astype(float)
    counts.iloc[5 * DAY : 7 * DAY] = np.nan  # two days not read
    result = RollingBaselineDetector().fit_predict(counts)
    assert not result["alert"].any()
    assert (result["score"].iloc[5 * DAY : 7 * DAY] == 0).all()
    assert result["baseline"].iloc[-1] == pytest.approx(2.0, rel=0.2)


def test_rows_missing_from_the_grid_count_as_missing_and_the_index_is_kept():
    counts = poisson_series(rate=2.0, days=10, seed=8)
    counts.iloc[9 * DAY] = 40
    holed = counts.drop(counts.index[[100, 9 * DAY - 3, 9 * DAY - 2]])
    result = RollingBaselineDetector().fit_predict(holed)
    assert result.index.equals(holed.index)
    full = RollingBaselineDetector().fit_predict(
        counts.astype(float).where(~counts.index.isin(counts.index.difference(holed.index)))
    )
    pd.testing.assert_frame_equal(result, full.loc[holed.index])
    assert result["onset"].loc[counts.index[9 * DAY]]


def test_estimator_api_get_set_params_and_clone():
    detector = RollingBaselineDetector(threshold=6.0, window="3D")
    assert detector.get_params()["threshold"] == 6.0
    copy = clone(detector).set_params(threshold=7.0)
    assert copy.threshold == 7.0 and detector.threshold == 6.0 and copy.window == "3D"
    assert not hasattr(copy, "baseline_")
    copy.fit(poisson_series())
    assert len(copy.baseline_) == 8 * DAY


def test_bad_input_is_refused_with_a_reason():
    counts = poisson_series()
    with pytest.raises(ValueError, match="regular DatetimeIndex"):
        RollingBaselineDetector().fit_predict(
            counts.set_axis(counts.index[:-1].append(counts.index[-1:] + pd.Timedelta("2min")))
        )
    with pytest.raises(ValueError, match="divide an hour"):
        RollingBaselineDetector().fit_predict(poisson_series(freq="7min"))
    with pytest.raises(ValueError, match="close_threshold <= threshold"):
        RollingBaselineDetector(threshold=1.0, close_threshold=2.0).fit_predict(counts)
    with pytest.raises(TypeError):
        RollingBaselineDetector().fit_predict([1, 2, 3])


def test_updating_bucket_by_bucket_gives_exactly_the_batch_result():
    frame = seasonal_frame(days=45, seed=9)
    frame.iloc[30 * DAY : 30 * DAY + 20] += 6
    frame.iloc[40 * DAY + 7] += 9
    batch = RollingBaselineDetector().fit_predict(frame)
    live = RollingBaselineDetector()
    pieces = [live.fit_predict(frame.iloc[: 20 * DAY])]
    rng = np.random.default_rng(0)
    position = 20 * DAY
    while position < len(frame):
        size = int(rng.choice([1, 1, 3, 12, 100, 700]))
        pieces.append(live.update(frame.iloc[position : position + size]))
        position += size
    incremental = pd.concat(pieces)
    pd.testing.assert_frame_equal(incremental, batch)
    assert len(live.history_) < 45 * DAY  # only the trailing history is kept
    assert batch["onset"].sum() >= 2


def test_a_bucket_depends_only_on_what_came_before_it():
    frame = seasonal_frame(days=20, seed=12)
    frame.iloc[15 * DAY : 15 * DAY + 10] += 5
    full = RollingBaselineDetector().fit_predict(frame)
    for cut in (15 * DAY + 2, 15 * DAY + 30, 18 * DAY + 5):
        prefix = RollingBaselineDetector().fit_predict(frame.iloc[:cut])
        pd.testing.assert_frame_equal(prefix, full.iloc[:cut])


def test_complaint_counts_fill_empty_buckets_with_zero():
    posts = pd.DataFrame(
        {
            "created_at": pd.to_datetime(
                ["2023-11-08T13:41:10Z", "2023-11-08T13:44:59Z", "2023-11-08T13:58:00Z"], utc=True
            ),
            "is_complaint": [1, 1, 1],
            "source": ["reddit", "forum", "reddit"],
        }
    )
    counts = complaint_counts(posts, "5min")
    assert list(counts) == [2, 0, 0, 1]
    assert counts.index[0] == pd.Timestamp("2023-11-08T13:40Z") and counts.index.freqstr == "5min"
    by_source = counts_by(posts, "source", "5min")
    assert by_source["reddit"].tolist() == [1, 0, 0, 1] and by_source["forum"].tolist() == [1, 0, 0, 0]


def official(rows):
    ids, titles, stages, stamps = zip(*rows, strict=True)
    return official_incidents(
        pd.DataFrame(
            {
                "provider": "openai",
                "incident_id": ids,
                "title": titles,
                "stage": stages,
                "posted_at": pd.to_datetime(stamps, utc=True),
                "components": "ChatGPT,API",
            }
        )
    )


def test_lead_time_and_matching_against_official_posts():
    incidents = official(
        [
            ("a", "Major outage", "investigating", "2023-11-08T13:54Z"),
            ("a", "Major outage", "resolved", "2023-11-08T15:46Z"),
            ("b", "Night blip", "investigating", "2023-11-09T03:00Z"),
        ]
    )
    found = pd.DataFrame({"start": pd.to_datetime(["2023-11-08T13:45Z", "2023-11-10T12:00Z"], utc=True)})
    matches = match_incidents(found, incidents)
    assert list(matches["detected"]) == [True, False]
    assert matches.loc[0, "lead_minutes"] == 9.0
    assert lead_minutes(pd.Timestamp("2023-11-08T14:00Z"), pd.Timestamp("2023-11-08T13:54Z")) == -6.0
    summary = summarize(matches, found, weeks=2)
    assert summary["precision"] == 0.5 and summary["recall"] == 0.5 and summary["median_lead_minutes"] == 9.0
    assert summary["false_alarms"] == 1 and summary["false_alarms_per_week"] == 0.5
    # Acknowledged 9 minutes after the alert, and one alert never acknowledged (240).
    assert summary["mean_ack_delay_minutes"] == 124.5 and summary["grade"] == "D"


@pytest.mark.parametrize(
    "delays, grade",
    [([5, 9], "A"), ([20, 25], "B"), ([100], "C"), ([200], "D"), ([300], "F"), ([-30], "A"), ([-30, 40], "A")],
)
def test_the_grade_follows_the_mean_acknowledgment_delay(delays, grade):
    alerts = pd.to_datetime([f"2024-01-0{i + 1}T12:00Z" for i in range(len(delays))], utc=True)
    matches = pd.DataFrame({"alert_start": alerts, "first_post": alerts + pd.to_timedelta(delays, unit="min")})
    assert acknowledgment_grade(matches, pd.DataFrame({"start": alerts}))[1] == grade


def test_percentiles_of_the_lead_time():
    starts = pd.to_datetime([f"2024-01-{d:02d}T12:00Z" for d in range(1, 11)], utc=True)
    incidents = official([(str(d), "x", "investigating", s + pd.Timedelta(minutes=d)) for d, s in enumerate(starts)])
    summary = summarize(match_incidents(pd.DataFrame({"start": starts}), incidents), pd.DataFrame({"start": starts}))
    assert summary["median_lead_minutes"] == 4.5 and summary["p90_lead_minutes"] == pytest.approx(8.1)


def test_one_alert_never_counts_for_two_incidents():
    incidents = official(
        [
            ("login", "Login errors", "investigating", "2024-08-21T16:27Z"),
            ("assistants", "Assistants API errors", "investigating", "2024-08-21T18:00Z"),
        ]
    )
    found = pd.DataFrame({"start": pd.to_datetime(["2024-08-21T16:20Z"], utc=True)})
    assert list(match_incidents(found, incidents)["detected"]) == [True, False]


def test_nab_scoring_rewards_early_detection_and_charges_false_alarms():
    index = pd.date_range("2024-01-01", periods=2000, freq="5min", tz="UTC")
    windows = anomaly_windows(index, [index[1000], index[1600]])
    assert len(windows) == 2 and windows[0][0] == index[950]

    def flags(*at):
        return pd.Series(np.isin(np.arange(2000), at), index=index)

    never = nab_raw_score(flags(), windows)
    perfect = nab_raw_score(flags(950, 1550), windows)
    assert nab_score([never]) == 0 and nab_score([perfect]) == 100
    late = nab_score([nab_raw_score(flags(1040, 1640), windows)])
    centre = nab_score([nab_raw_score(flags(1000, 1600), windows)])
    assert 0 < late < centre < 100
    noisy = nab_raw_score(flags(950, 1550, 500, 700), windows)
    assert noisy["false_positives"] == 2 and noisy["raw"] == pytest.approx(perfect["raw"] - 0.22)
    # Detections in the probationary first 15% do not count at all.
    assert nab_raw_score(flags(950, 1550, 100), windows)["false_positives"] == 0
    # Several hits in one window count once; a miss costs 1.
    one_missed = nab_raw_score(flags(950, 951, 952), windows)
    assert one_missed["raw"] == pytest.approx(perfect["raw"] / 2 - 1)


def test_simulated_scenarios_carry_their_truth():
    posts, labels = simulate_scenario("ordinary", seed=3)
    assert labels.empty
    assert (posts.loc[posts["kind"] == "flood", "author"] == "flooder").sum() == 40
    assert (posts["kind"] == "launch").sum() > 1000 and not posts.loc[posts["kind"] == "launch", "is_complaint"].any()
    gap = posts[
        (posts["source"] == "reddit-openai") & posts["created_at"].between("2024-03-06T09:00Z", "2024-03-06T21:00Z")
    ]
    assert gap.empty
    posts, labels = simulate_scenario("major", seed=3)
    (label,) = labels.itertuples()
    assert label.onset == pd.Timestamp("2024-03-12T13:42Z")
    assert label.onset <= label.first_complaint < label.onset + pd.Timedelta(minutes=2)


def test_the_detector_hears_simulated_outages_and_nothing_else():
    names = ["reddit-chatgpt", "reddit-openai", "hackernews", "openai-forum", "mastodon-chatgpt"]
    from detector import first_reports

    for name, seed in (("ordinary", 4), ("major", 4), ("api-forum", 4)):
        posts, labels = simulate_scenario(name, seed=seed)
        heard = first_reports(posts.assign(author_hash=posts["author"], is_complaint=posts["is_complaint"].astype(int)))
        found = episodes(
            RollingBaselineDetector().fit_predict(
                counts_by(heard, "source", "5min").reindex(columns=names, fill_value=0)
            )
        )
        assert len(found) == len(labels), name
        for label, episode in zip(labels.itertuples(), found.itertuples(), strict=True):
            assert label.first_complaint <= episode.start <= label.first_complaint + pd.Timedelta(minutes=15), name


def test_mention_counts_surges_are_heard_without_false_detections():
    # Measured with the defaults: 46.6 (4 of 8 surges, no false detection);
    # at threshold 4, 93.2 (8 of 8, none false). The count model alone: 70.0.
    scored = []
    for seed in range(4):
        counts, surges = mention_counts(days=40, anomalies=2, seed=seed)
        scored.append(
            nab_raw_score(RollingBaselineDetector().fit_predict(counts)["onset"], anomaly_windows(counts.index, surges))
        )
    assert sum(s["false_positives"] for s in scored) == 0
    assert sum(s["hit"] for s in scored) >= 4 and nab_score(scored) > 40
    louder = [
        nab_raw_score(RollingBaselineDetector(threshold=4.0).fit_predict(c)["onset"], anomaly_windows(c.index, s))
        for c, s in (mention_counts(days=40, anomalies=2, seed=seed) for seed in range(4))
    ]
    assert nab_score(louder) > 80


def ordinary_scores(name: str, seed: int) -> pd.DataFrame:
    """The detector's result on a simulated family of ordinary days (no outage), counted by source and problem
    as `earshot detect` counts them, the first two days (warming up) left out."""
    posts, labels = simulate_scenario(name, seed=seed)
    assert labels.empty
    heard = first_reports(
        posts.assign(
            author_hash=posts["author"],
            is_complaint=posts["is_complaint"].astype(int),
            problem=posts["problem"].fillna(""),
        )
    )
    counts = counts_by(heard, ["source", "problem"], "5min")
    assert counts.columns.nlevels == 2
    return RollingBaselineDetector().fit_predict(counts).iloc[2 * DAY :]


@pytest.mark.parametrize(
    "family",
    [
        "ordinary",
        # Measured: calibrated on their own tails, bursty days keep the promise;
        # growing and sparse days reach a score of 3 to 4 two to five times as
        # often as promised (a community doubling overnight, sources silent
        # most hours). Strict: the day they hold, these fail and must be promoted.
        "bursty",
        pytest.param("growing", marks=pytest.mark.xfail(strict=True, reason="tail heavier than the model's")),
        pytest.param("sparse", marks=pytest.mark.xfail(strict=True, reason="tail heavier than the model's")),
    ],
)
def test_on_ordinary_days_scores_are_reached_no_more_often_than_they_promise(family):
    table = calibration(ordinary_scores(family, seed=0), thresholds=(3.0, 4.0))
    assert (table["buckets"] > 2000).all()
    assert (table["observed"] <= table["nominal"]).all(), table.to_string()


@pytest.mark.parametrize("times", [1, 2])
def test_a_fit_over_the_history_needed_continues_as_a_fit_over_everything(times):
    # What lets `earshot watch` build its state from weeks, not from a year of backfilled posts.
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-01-01", periods=288 * 120, freq="5min", tz="UTC")
    rate = 0.5 + 0.4 * np.sin(index.hour.to_numpy() / 24 * 2 * np.pi)
    counts = pd.DataFrame({"a": rng.poisson(rate), "b": rng.poisson(2 * rate)}, index=index).astype(float)
    counts.iloc[288 * 100 : 288 * 100 + 6] += 30  # an outage well inside the history kept
    counts.iloc[288 * 20 : 288 * 21] = np.nan  # and a missing day long before it
    cut = len(index) - 288 * 5
    span = RollingBaselineDetector().history_needed(index.freq)
    start = index[cut] - times * span
    everything = RollingBaselineDetector().fit(counts.iloc[:cut]).update(counts.iloc[cut:])
    needed = RollingBaselineDetector().fit(counts[(counts.index >= start) & (counts.index < index[cut])])
    pd.testing.assert_frame_equal(needed.update(counts.iloc[cut:]), everything)
    shorter = RollingBaselineDetector().fit(
        counts[(counts.index >= index[cut] - span / 2) & (counts.index < index[cut])]
    )
    assert not np.allclose(shorter.update(counts.iloc[cut:])["score"], everything["score"])  # less is not enough


def test_one_outage_does_not_hide_the_next_for_weeks():
    # The calibration reads the series' own tail: the spike hours the baseline
    # clips out (and the scan windows reaching into them) are not the ordinary.
    rng = np.random.default_rng(1)
    index = pd.date_range("2024-01-01", periods=30 * DAY, freq="5min", tz="UTC")
    quiet = pd.Series(rng.poisson(0.3, len(index)), index=index).astype(float)
    second, first = 21 * DAY, 14 * DAY
    once, twice = quiet.copy(), quiet.copy()
    once.iloc[second : second + 12] += 8
    twice.iloc[second : second + 12] += 8
    twice.iloc[first : first + 12] += 8
    alone = RollingBaselineDetector().fit_predict(once)["score"].iloc[second : second + 12].max()
    after = RollingBaselineDetector().fit_predict(twice)
    assert after["onset"].iloc[second : second + 12].any() and after["onset"].iloc[first : first + 12].any()
    assert after["score"].iloc[second : second + 12].max() > 0.6 * alone


def test_heavy_tailed_chatter_is_calibrated_on_its_own_tail():
    # Bursts of every size (Pareto), week after week: the count model reads
    # the big ones as outages; calibrated, the score comes closer to its promise.
    rng = np.random.default_rng(4)
    index = pd.date_range("2024-01-01", periods=42 * DAY, freq="5min", tz="UTC")
    counts = rng.poisson(20.0, len(index)).astype(float)
    for at in rng.choice(len(index) - 12, 4 * 42, replace=False):
        counts[at : at + 6] += np.round(10 * (rng.pareto(1.5) + 1))
    counts = pd.Series(counts, index=index)
    model = RollingBaselineDetector(tail_window=None).fit_predict(counts).iloc[14 * DAY :]
    calibrated = RollingBaselineDetector().fit_predict(counts).iloc[14 * DAY :]
    assert (calibrated["evidence"] == model["score"]).all()  # the same evidence, read two ways
    promised, read = calibration(calibrated, thresholds=(3.0, 4.0)), calibration(model, thresholds=(3.0, 4.0))
    assert (promised["ratio"] < read["ratio"]).all(), (promised.to_string(), read.to_string())
    assert calibrated["onset"].sum() < model["onset"].sum()


def test_real_chatter_is_calibrated_on_its_own_tail():
    from earshot.realdata import ordinary_rows, realtweets

    series = list(realtweets().values())
    results = [RollingBaselineDetector().fit_predict(counts) for counts, _ in series]
    table = calibration(ordinary_rows(results, [windows for _, windows in series]), thresholds=(2.0, 3.0, 4.0))
    assert table.loc[0, "ratio"] < 2.0, table.to_string()  # a score of 2: within the promise's factor of two
    # Measured: a score of 3 is reached 6 times, 4 some 28 times as often as
    # promised: news spikes are clipped out of the tail's sample as outages
    # are, so real chatter's biggest ordinary spikes still look rare.
    # When they are not, this fails: tighten it to all thresholds.
    assert (table["ratio"] > 2.0).sum() == 2, table.to_string()


def test_a_series_shorter_than_the_scan_windows_is_scored():
    counts = poisson_series(days=1).iloc[:4]
    result = RollingBaselineDetector().fit_predict(counts)
    assert len(result) == 4 and (result["score"] == 0).all()
