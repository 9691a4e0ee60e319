"""Exceptions raised for bad input: each message names the source, field or row at fault."""


class DataError(ValueError):
    """Bad market data; the message names the source, the column and the row."""


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field."""


class TrainingError(RuntimeError):
    """Training cannot go on (it diverged); the message names the update, the quantity and what to try."""
