"""How well and how fast earshot tells complaints from chatter.

    python benchmarks/classifier.py

Prints, for the trained classifier and for the rules alone:
- stratified 5-fold cross-validation over ``earshot/data/labels/train`` (folds
  stratified by label, so every problem type is in every fold; a post and
  its reading for another service stay in one fold);
- the held-out split ``earshot/data/labels/heldout``, written separately and never
  trained on, scored against a classifier fitted on all of ``train``: the
  ChatGPT posts, then the posts about other services, each judged for its
  own service as ``earshot classify --service NAME --config earshot/llms.toml``
  judges it (Claude and ChatGPT from that config, the others as earshot knows them);
- the same split per language and per writing style;
- posts classified per second on one core (BLAS and OpenMP held to one
  thread; the text features are single-threaded Python anyway).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from run import timed  # benchmarks/run.py, beside this script
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from earshot.complaints.model import (
    ComplaintClassifier,
    RuleComplaintFilter,
    complaint_scores,
)
from earshot.complaints.trained import load_labels, read_as_reports, training_frame
from earshot.config import default_config_path, load_config

FOLDS = 5
SEED = 0
SPEED_POSTS = 50_000


def score_line(name: str, scores: dict) -> str:
    return (
        f"{name:<34} {scores['posts']:>6,}  P {scores['precision']:.3f}  R {scores['recall']:.3f}  "
        f"F1 {scores['f1']:.3f}  type acc {scores['problem_accuracy']:.3f}"
    )


def by_group(frame: pd.DataFrame, predicted: np.ndarray, column: str) -> list[str]:
    lines = []
    for value, rows in frame.groupby(column):
        lines.append(score_line(f"  {column} {value}", complaint_scores(rows["label"], predicted[rows.index])))
    return lines


def main() -> None:
    train, heldout = load_labels("train"), load_labels("heldout")
    counts = train["label"].value_counts()
    print(
        f"train: {len(train):,} posts ({(train['label'] != 'none').sum():,} complaints; "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"); held out: {len(heldout):,}"
    )
    frame = training_frame(train)
    texts, labels = frame["text"].tolist(), frame["label"].to_numpy(dtype=object)
    rules = RuleComplaintFilter()
    config = load_config(default_config_path().parent / "llms.toml")
    views = {service.name: config.view(service.name) for service in config.services}
    held_texts = read_as_reports(heldout, views)

    with threadpool_limits(1):
        folds = StratifiedGroupKFold(FOLDS, shuffle=True, random_state=SEED)
        cv_seconds, cv_predicted = timed(
            cross_val_predict, ComplaintClassifier(), texts, labels, cv=folds, groups=frame["origin"]
        )
        own = frame.index[: len(train)]  # each post as read for its own service
        print(f"\n{FOLDS}-fold cross-validation on train ({cv_seconds:.1f} s)")
        print(score_line("classifier", complaint_scores(labels[own], cv_predicted[own])))
        print(score_line("  and read for another service", complaint_scores(labels, cv_predicted)))
        print(score_line("rules alone", complaint_scores(labels[own], rules.predict(texts[: len(train)]))))
        print("\n".join(by_group(train, cv_predicted[own], "lang")))

        fit_seconds, model = timed(ComplaintClassifier().fit, texts, labels)
        held_predicted = model.predict(held_texts)
        rules_predicted = rules.predict(held_texts)
        print(f"\nheld-out split (classifier fitted on all of train in {fit_seconds:.1f} s)")
        for name, rows in (
            ("ChatGPT posts", heldout.index[heldout["service"] == "chatgpt"]),
            ("posts about other services", heldout.index[heldout["service"] != "chatgpt"]),
        ):
            part = heldout.loc[rows]
            print(f"{name}:")
            print(score_line("classifier", complaint_scores(part["label"], held_predicted[rows])))
            print(score_line("rules alone", complaint_scores(part["label"], rules_predicted[rows])))
            print("\n".join(by_group(part, held_predicted, "service" if name != "ChatGPT posts" else "lang")))
            print("\n".join(by_group(part, held_predicted, "lang" if name != "ChatGPT posts" else "style")))
        claude = heldout[(heldout["service"] == "claude") & (heldout["label"] != "none")]
        taken = (model.predict(claude["text"].tolist(), views["chatgpt"]) != "none").sum()
        print(f"Claude's complaints judged for ChatGPT: {taken} of {len(claude)} taken for ChatGPT complaints")

        corpus = train["text"].tolist() + heldout["text"].tolist()
        short = (corpus * (SPEED_POSTS // len(corpus) + 1))[:SPEED_POSTS]
        # Forum posts carry a body: five corpus posts joined stand in for one.
        long = [" ".join(short[i : i + 5]) for i in range(0, SPEED_POSTS, 5)]
        for posts in (short, long):
            print(
                f"\nspeed, one core, {len(posts):,} posts of {np.mean([len(p) for p in posts]):.0f} characters on average"
            )
            judges = (
                ("classifier (scikit-learn pipeline)", model.verdicts),
                ("its scorer (numpy, what collect uses)", model.scorer().verdicts),
                ("rules alone", rules.verdicts),
            )
            for name, fn in judges:
                seconds, _ = timed(fn, posts)
                print(f"{name:<38} {len(posts) / seconds:>10,.0f} posts/s")


if __name__ == "__main__":
    main()
