"""One error hierarchy for the engine. Dialect adapters map these onto their own error shapes."""


class SchedulerError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigError(SchedulerError):
    """A setting is missing or wrong; the message says which and how to fix it."""


class InvalidSchedule(SchedulerError):
    """A schedule, trigger or target is malformed; the message names the bad field."""


class InvalidTrigger(InvalidSchedule):
    """A trigger cannot be parsed or never fires."""


class NotFound(SchedulerError):
    """No such schedule (or it belongs to another account)."""


class QuotaExceeded(SchedulerError):
    """An account would hold more schedules than it may."""


class StoreUnavailable(SchedulerError):
    """Redis is unreachable or refuses our writes."""


class UnsafeRedisConfig(SchedulerError):
    """Redis is configured so that it could evict or lose our keys."""


class AuthError(SchedulerError):
    """Credentials are missing or wrong."""
