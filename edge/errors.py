"""The one error family for problems a user can cause and fix.

A `MoldPilotError` is printed by the CLI as a single line (no traceback) and exits with code 2.
Its message says what is wrong, where (file, key, byte) and how to fix it. Anything else that
escapes is a bug and keeps its traceback.
"""


class MoldPilotError(Exception):
    """A problem with the user's input or setup, with a message that names the fix."""


class ConfigError(MoldPilotError):
    """station.yaml is missing, malformed or holds a value that is not allowed."""


class ModelError(MoldPilotError):
    """A model file or its card is missing, tampered with or does not fit the runtime."""


class DataError(MoldPilotError):
    """A dataset folder or footage file cannot be used as given."""
