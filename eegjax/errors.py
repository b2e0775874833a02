"""Errors that are a user's to fix. Binaries print them as one line and exit 1; anything
else is a bug and keeps its traceback."""


class UserError(Exception):
  """Base of the errors whose message tells the user what to change."""


class DataError(UserError, ValueError):
  """A data file or dataset is not what eegjax expects; names where and what."""


class ConfigError(UserError, ValueError):
  """A flag or configuration value is out of range; names the flag and what is expected."""
