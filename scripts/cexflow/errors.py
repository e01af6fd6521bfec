"""The one exception the command line turns into a one-line error."""


class CexflowError(Exception):
    """A problem the user can fix: the message names the file, row or option at fault."""
