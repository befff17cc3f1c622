"""The one exception type of the converter: a user-facing error printed as a single line by the CLIs."""


class ConvertError(ValueError):
    """Bad input (checkpoint, config, arguments) or an output problem, with the values involved."""
