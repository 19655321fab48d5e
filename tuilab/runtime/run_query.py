"""Which stored runs a listing shows: `tuilab runs --scenario/--status/--tag/--since/--grep`.

A query is checked when it is made (a bad `--since` or status is a `UsageError` naming what
would do) and then matched against `RunInfo`s, which carry tags and notes: no extra reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tuilab.errors import UsageError
from tuilab.runtime.library import check_tag
from tuilab.runtime.run_folder import STATUSES, RunInfo

LISTED_STATUSES = (*STATUSES, "incomplete", "corrupt")
SORT_KEYS = ("started", "best_val_accuracy", "test_accuracy", "scenario", "status")
"""What `tuilab runs --sort` takes (newest first, metrics highest first, text A to Z)."""
_RELATIVE = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_AGO = timedelta(days=36_525)
"""The longest time ago `--since` takes: 100 years (`36525d`, `5217w`)."""


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`2026-11-20`, `2026-11-20T14:30`, or a time ago: `90m`, `12h`, `3d`, `2w`.

    A time ago is at most `MAX_AGO`; a date is one from 0001-01-01 to 9999-12-31 in local
    time (a zone that moves it past either end is refused too).

    Raises:
        UsageError: none of those, or out of range (the one error for all of them: the
            command line and the app's filter box both show its message).
    """
    value = text.strip()
    shown = repr(text[:40])
    match = _RELATIVE.fullmatch(value)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        if delta > MAX_AGO:
            raise UsageError(
                f"--since {shown}: at most 100 years ago ({MAX_AGO.days}d, {MAX_AGO.days // 7}w)"
            )
        try:
            return (now or datetime.now()) - delta
        except OverflowError:
            raise UsageError(f"--since {shown}: that is before the year 1") from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {shown}: give a date (2026-11-20), a time (2026-11-20T14:30) "
            "or a time ago (90m, 12h, 3d, 2w)"
        ) from None
    try:
        return _naive(moment)
    except (OverflowError, ValueError):
        raise UsageError(
            f"--since {shown}: in local time that is outside 0001-01-01 .. 9999-12-31"
        ) from None


def _naive(moment: datetime) -> datetime:
    """Local time without a zone (how `run.json` stores times)."""
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment


def _started(info: RunInfo) -> datetime | None:
    try:
        return _naive(datetime.fromisoformat(info.started))
    except (ValueError, OverflowError):  # run.json is untrusted: a zone past year 1 or 9999
        return None


@dataclass(frozen=True)
class RunQuery:
    """Every filter given must match (`tags`: the run has all of them)."""

    scenario: str | None = None
    """A scenario stem, or its name (case-insensitive)."""
    status: str | None = None
    tags: tuple[str, ...] = ()
    since: datetime | None = None
    grep: str | None = None
    """Text looked for, case-insensitive, in the run id, scenario, variants, tags and note."""
    words: tuple[str, ...] = ()
    """Words that must all appear, as `grep` looks (the app's filter box)."""

    @classmethod
    def parse(
        cls,
        scenario: str | None = None,
        status: str | None = None,
        tags: list[str] | None = None,
        since: str | None = None,
        grep: str | None = None,
    ) -> RunQuery:
        """A query from command-line values.

        Raises:
            UsageError: an unknown status, a `since` that is not a date or a time ago, or a
                tag that cannot be one.
        """
        if status is not None and status not in LISTED_STATUSES:
            raise UsageError(f"--status {status[:40]!r}: one of {', '.join(LISTED_STATUSES)}")
        return cls(
            scenario,
            status,
            tuple(check_tag(tag) for tag in tags or ()),
            parse_since(since) if since is not None else None,
            grep or None,
        )

    @classmethod
    def from_text(cls, text: str) -> RunQuery:
        """A query typed in one line (the app's filter box): `tag:best status:finished adam`.

        `tag:`, `status:`, `scenario:` and `since:` words filter like the options of `tuilab
        runs`; every other word must appear (case-insensitive) in the run's id, scenario,
        variants, tags or note.

        Raises:
            UsageError: a value those options would refuse.
        """
        fields: dict[str, str] = {}
        tags: list[str] = []
        words: list[str] = []
        for word in text.split():
            name, colon, value = word.partition(":")
            if colon and value and name in ("tag", "status", "scenario", "since"):
                if name == "tag":
                    tags.append(value)
                else:
                    fields[name] = value
            else:
                words.append(word)
        query = cls.parse(fields.get("scenario"), fields.get("status"), tags, fields.get("since"))
        return replace(query, words=tuple(words))

    def matches(self, info: RunInfo) -> bool:
        """True when the run passes every filter given."""
        wanted = self.scenario
        if wanted is not None and wanted.casefold() not in (
            info.stem.casefold(),
            info.scenario.casefold(),
        ):
            return False
        if self.status is not None and info.status != self.status:
            return False
        if any(tag not in info.tags for tag in self.tags):
            return False
        if self.since is not None:
            started = _started(info)
            if started is None or started < self.since:
                return False
        haystack = [info.run_id, info.scenario, *info.variants, *info.tags, info.note]
        for needle in (*([self.grep] if self.grep is not None else []), *self.words):
            if not any(needle.casefold() in text.casefold() for text in haystack):
                return False
        return True


def check_sort(key: str) -> str:
    """`key` when `tuilab runs --sort` takes it.

    Raises:
        UsageError: it does not (the message lists the choices).
    """
    if key not in SORT_KEYS:
        raise UsageError(f"--sort {key[:40]!r}: one of {', '.join(SORT_KEYS)}")
    return key
