"""One error hierarchy for the engine. Dialect adapters map these onto their own error shapes."""


class SchedulerError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigError(SchedulerError):
    """A setting is missing or wrong; the message says which and how to fix it."""


class InvalidSchedule(SchedulerError):
    """A schedule, trigger or target is malformed; the message names the bad field.

    The parts, for an adapter that names things in its document's terms without reading the
    message: ``field`` is the bad field in the core's terms when one is (``calendar``, ``hour``
    of a calendar item, ...), ``item`` the index (from 0) of the calendar item at fault, and
    ``reason`` what is wrong, without naming the field or the item.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        item: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.item = item
        self.reason = message if reason is None else reason


class InvalidTrigger(InvalidSchedule):
    """A trigger cannot be parsed or never fires."""


class NoFutureFire(InvalidTrigger):
    """A valid trigger whose every fire lies in the past."""


class NotFound(SchedulerError):
    """No such schedule (or it belongs to another account)."""


class QuotaExceeded(SchedulerError):
    """An account would hold more schedules than it may: ``limit``, the most it may hold."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class StoreUnavailable(SchedulerError):
    """Redis is unreachable or refuses our writes."""


class UnsafeRedisConfig(SchedulerError):
    """Redis is configured so that it could evict or lose our keys."""
