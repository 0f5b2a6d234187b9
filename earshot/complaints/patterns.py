"""Many regular expressions tried on one text, each only where it could match.

Python's ``re`` tries a pattern that starts with ``\\b`` or a group at every
character of the text, so a dozen complaint patterns over a 250-character
post cost about 200 µs. Almost every alternative of those patterns holds a
literal word it cannot match without ("at capacity", "落ちて"): one
Aho-Corasick pass (pyahocorasick) finds which of those words occur, and only
the alternatives that own one of them are searched. The answers are exactly
those of searching every pattern.

>>> rules = PatternSet({"slow": r"\\b(so|very) slow\\b|遅い", "down": r"\\bis \\w+ down\\b"})
>>> rules.needles("slow")
(('so slow', 'very slow'), ('遅い',))
>>> rules.matching("is it down? so slow today")
['slow', 'down']
>>> rules.first("it is very slow"), rules.first("all fine")
('slow', None)
"""

from __future__ import annotations

import re
import re._parser as sre_parse  # the parser re itself uses; its tree says which literals a pattern needs
from re._constants import ASSERT, ASSERT_NOT, AT, BRANCH, IN, LITERAL, MAX_REPEAT, MIN_REPEAT, SUBPATTERN

import ahocorasick


class PatternSet:
    """Named patterns (matched as given: lower-case patterns for lowered
    text), searched together by :meth:`matching` and :meth:`first`."""

    def __init__(self, patterns: dict[str, str]):
        self.names = tuple(patterns)
        self._always: list[tuple[int, re.Pattern]] = []  # alternatives with no literal to look for
        self._alternatives: list[tuple[int, re.Pattern]] = []
        self._needles: dict[str, list[tuple[str, ...]]] = {name: [] for name in self.names}
        automaton = ahocorasick.Automaton()
        for index, (name, pattern) in enumerate(patterns.items()):
            for alternative in top_level_alternatives(pattern):
                compiled = re.compile(alternative)
                words = required_literals(alternative)
                if not words:
                    self._always.append((index, compiled))
                    continue
                self._needles[name].append(tuple(sorted(words, key=lambda w: (len(w), w))))
                self._alternatives.append((index, compiled))
                for word in words:
                    owners = automaton.get(word, None)
                    if owners is None:
                        owners = set()
                        automaton.add_word(word, owners)
                    owners.add(len(self._alternatives) - 1)
        self._automaton = automaton
        self._empty = len(automaton) == 0
        if not self._empty:
            automaton.make_automaton()

    def needles(self, name: str) -> tuple[tuple[str, ...], ...]:
        """The literal words looked for, per alternative of pattern ``name``."""
        return tuple(self._needles[name])

    def _candidates(self, text: str) -> list[tuple[int, re.Pattern]]:
        owners: set[int] = set()
        if not self._empty:
            for _, found in self._automaton.iter(text):
                owners |= found
        return [*self._always, *(self._alternatives[k] for k in sorted(owners))]

    def hits(self, text: str) -> list[bool]:
        """One bool per pattern, in order: does it match somewhere in ``text``."""
        hit = [False] * len(self.names)
        for index, pattern in self._candidates(text):
            if not hit[index] and pattern.search(text):
                hit[index] = True
        return hit

    def matching(self, text: str) -> list[str]:
        """The names of the patterns that match ``text``, in order."""
        return [name for name, hit in zip(self.names, self.hits(text), strict=True) if hit]

    def first(self, text: str) -> str | None:
        """The first pattern, in order, that matches ``text``; None if none does."""
        for index, pattern in sorted(self._candidates(text), key=lambda candidate: candidate[0]):
            if pattern.search(text):
                return self.names[index]
        return None


def top_level_alternatives(pattern: str) -> list[str]:
    """``pattern`` split at its outermost ``|``.

    >>> top_level_alternatives(r"a(b|c)|[|]d|e\\|f")
    ['a(b|c)', '[|]d', 'e\\\\|f']
    """
    parts, current, depth, in_class, escaped = [], [], 0, False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def required_literals(pattern: str) -> set[str] | None:
    """Literal words of which any match of ``pattern`` holds at least one;
    None when no such set is known.

    >>> sorted(required_literals(r"\\b(can'?t|cannot) log ?in\\b"))
    ["can't log in", "can't login", 'cannot log in', 'cannot login', 'cant log in', 'cant login']
    >>> sorted(required_literals(r"\\bsigned out\\b.*\\b(again|randomly)\\b"))
    ['signed out']
    >>> sorted(required_literals(r"\\b(outage|not loading)\\b"))
    ['not loading', 'outage']
    >>> required_literals(r"\\w+") is None
    True
    """
    return _required(sre_parse.parse(pattern))


_MOST_SPELLINGS = 32  # a literal part with more spellings than this is not spelled out


def _required(sequence) -> set[str] | None:
    # Each item of a sequence must match, so any one stretch of items will do:
    # a stretch of literal items (a character, a short optional part, a small
    # class or choice of words) is spelled out in full ("can'?t" is "cant" or
    # "can't"); keep the most telling stretch (longest shortest word, then
    # fewest words).
    choices: list[set[str]] = []
    spelled: set[str] = {""}

    def end_stretch():
        nonlocal spelled
        if "" not in spelled:
            choices.append(spelled)
        spelled = {""}

    for op, value in sequence:
        if op in (AT, ASSERT, ASSERT_NOT):  # zero width: the literals either side stay adjacent
            continue
        spellings = _spellings([(op, value)])
        if spellings is not None and len(spelled) * len(spellings) <= _MOST_SPELLINGS:
            spelled = {before + after for before in spelled for after in spellings}
            continue
        end_stretch()
        if op is SUBPATTERN:
            found = _required(value[3])
        elif op is BRANCH:
            branches = [_required(branch) for branch in value[1]]
            found = None if any(b is None for b in branches) else set().union(*branches)
        elif op in (MAX_REPEAT, MIN_REPEAT) and value[0] >= 1:
            found = _required(value[2])
        else:
            found = None
        if found:
            choices.append(found)
    end_stretch()
    if not choices:
        return None
    return max(choices, key=lambda words: (min(map(len, words)), -len(words)))


def _spellings(sequence) -> set[str] | None:
    """Every string ``sequence`` matches, if they are few; else None."""
    spelled = {""}
    for op, value in sequence:
        if op is LITERAL:
            options = {chr(value)}
        elif op in (AT, ASSERT, ASSERT_NOT):
            continue
        elif op is IN and all(kind is LITERAL for kind, _ in value):
            options = {chr(code) for _, code in value}
        elif op is SUBPATTERN:
            options = _spellings(value[3])
        elif op is BRANCH:
            branches = [_spellings(branch) for branch in value[1]]
            options = None if any(b is None for b in branches) else set().union(*branches)
        elif op is MAX_REPEAT and value[1] == 1:  # optional: x?
            inner = _spellings(value[2])
            options = None if inner is None else inner | ({""} if value[0] == 0 else set())
        else:
            options = None
        if options is None or len(spelled) * len(options) > _MOST_SPELLINGS:
            return None
        spelled = {before + after for before in spelled for after in options}
    return spelled
