"""The one exception type whose message is shown to the user as a single line."""


class BakeoffError(Exception):
    """A user-facing error: bad input, a missing model, a runtime that failed to start."""
