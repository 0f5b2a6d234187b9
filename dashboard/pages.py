"""The dashboard's pages: the one list that the app, ``earshot dashboard --help``
and the docs all read (so none can say "four" while the others say five).

Plain data, no Streamlit: the CLI reads it for ``--help`` without loading the app.

>>> [page.key for page in PAGES]
['overview', 'now', 'history', 'tuning', 'sources']
>>> print(pages_help().splitlines()[0])
Five pages:
"""

from __future__ import annotations

from typing import NamedTuple


class Page(NamedTuple):
    key: str  # ?page=<key> in the address
    title: str
    shows: str


PAGES = (
    Page(
        "overview",
        "Overview",
        "every configured service: its state, the official status, the last hour (the first page when there "
        "are several)",
    ),
    Page(
        "now",
        "Now",
        "the detector's verdict beside the provider's status, the last 24 hours against the baseline, "
        "problem types, the latest posts",
    ),
    Page(
        "history",
        "History",
        "every alert episode and official incident of a range, with lead times; click a row for that incident's chart",
    ),
    Page("tuning", "Tuning", "sliders for the detector's settings, re-scored as they move; a button writes them"),
    Page("sources", "Sources", "last fetch, last error, posts/hour and backfill of each source"),
)

_COUNT = {4: "Four", 5: "Five", 6: "Six", 7: "Seven"}


def pages_help(width: int = 76) -> str:
    """The pages as ``--help`` lists them: title, then what it shows, wrapped."""
    import textwrap

    lines = [f"{_COUNT.get(len(PAGES), len(PAGES))} pages:"]
    for page in PAGES:
        wrapped = textwrap.wrap(page.shows, width - 12)
        lines.append(f"  {page.title:<9} {wrapped[0]}")
        lines += [f"{'':12}{more}" for more in wrapped[1:]]
    return "\n".join(lines)
