"""Errors that describe a user's mistake: the CLI prints them as one line, never a traceback."""


class UserError(Exception):
    """Bad input from the user (a file, an option, a model dir). The message names the culprit."""


class AudioError(UserError):
    """An audio file that cannot be read or holds unusable samples."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class TokenFileError(UserError):
    """A token file that is damaged, truncated or belongs to another model."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class DataDirError(UserError):
    """A Kaldi data dir that is missing files or is inconsistent."""
