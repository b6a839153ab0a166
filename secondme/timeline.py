"""TimelineOps: how many memories, messages and conversations fall in each day/week/month.

The desktop app's Timeline pane plots this; counting is done in SQL (grouped by the
first characters of the ISO timestamps), so it stays fast on a 100k-note store.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Optional

from .api import Timeline, TimelineBucket
from .errors import InvalidInput

BUCKETS = ("day", "week", "month")


def _bucket_start(d: date, bucket: str) -> date:
    if bucket == "month":
        return d.replace(day=1)
    if bucket == "week":
        return d - timedelta(days=d.weekday())
    return d


def _next(d: date, bucket: str) -> date:
    if bucket == "month":
        return (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return d + timedelta(days=7 if bucket == "week" else 1)


class TimelineOps:
    """Mixin for :class:`secondme.service.SecondMe`."""

    def timeline(self, *, bucket: str = "month", include_archived: bool = False,
                 max_buckets: int = 2000) -> Timeline:
        """Counts per ``bucket`` (day, week or month) of notes (by ``valid_from``, else
        ``created_at``), messages (by timestamp) and conversations (by start), oldest
        first with empty buckets filled in. At most ``max_buckets`` of the most recent
        buckets are returned. Read-only; safe from any thread. Raises InvalidInput."""
        if bucket not in BUCKETS:
            raise InvalidInput(f"bucket must be one of {', '.join(BUCKETS)}")
        conn = self.store.conn  # type: ignore[attr-defined]
        counts: dict[date, TimelineBucket] = {}

        def add(day: Optional[str], n: int, what: str) -> None:
            if not day:
                return
            try:
                d = date.fromisoformat(day[:10])
            except ValueError:
                return
            start = _bucket_start(d, bucket)
            b = counts.get(start)
            if b is None:
                b = counts[start] = TimelineBucket(start)
            setattr(b, what, getattr(b, what) + n)

        arch = "" if include_archived else "where archived = 0"
        for day, n in conn.execute(
                f"select substr(coalesce(valid_from, created_at), 1, 10) d, count(*) "
                f"from notes {arch} group by d"):
            add(day, n, "notes")
        for day, n in conn.execute(
                "select date(ts, 'unixepoch') d, count(*) from messages "
                "where ts is not null group by d"):
            add(day, n, "messages")
        for day, n in conn.execute(
                "select substr(started_at, 1, 10) d, count(*) from conversations "
                "where started_at is not null group by d"):
            add(day, n, "conversations")
        if not counts:
            return Timeline(bucket, [])
        keys = sorted(counts)
        out: list[TimelineBucket] = []
        d = keys[0]
        last = keys[-1]
        while d <= last:
            out.append(counts.get(d) or TimelineBucket(d))
            d = _next(d, bucket)
        return Timeline(bucket, out[-max_buckets:])

    @staticmethod
    def bucket_range(start: date, bucket: str) -> tuple[datetime, datetime]:
        """The [since, until) datetimes (naive, midnight) covered by the ``bucket`` (day,
        week or month) that starts on ``start``, e.g. to filter memories to a selected
        bar of the timeline. Pure arithmetic: cheap on any thread."""
        end = _next(start, bucket)
        return (datetime.combine(start, datetime.min.time()),
                datetime.combine(end, datetime.min.time()))
