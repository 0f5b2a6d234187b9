"""How earshot says numbers and durations in its lines: one place, so the CLI,
the collectors and the dashboard say them alike.

>>> counted(3, "new post"), ago(90)
('3 new posts', '90 s')
"""


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, plural unless one, thousands separated.

    >>> counted(1, "new post"), counted(2145, "duplicate"), counted(0, "official update")
    ('1 new post', '2,145 duplicates', '0 official updates')
    """
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def ago(seconds: float) -> str:
    """A duration as people say it.

    >>> ago(12.4), ago(600), ago(7200), ago(200000)
    ('12 s', '10 min', '2.0 h', '2.3 days')
    """
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200 - 1:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
