"""The errors minioci reports: one line, saying what failed and where."""


class MiniociError(Exception):
    """A failure to report to the user as `minioci: <message>`.

    `status` is the exit status the command ends with.
    """

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


class ConfigError(MiniociError):
    """Bad input in a JSON file, named by file and JSON path:
    `config.json: process.args: must be a non-empty array of strings`."""

    def __init__(self, file, path, message):
        where = f"{file}: {path}: " if path else f"{file}: "
        super().__init__(where + message)
        self.file = file
        self.path = path


class SysError(MiniociError):
    """A system call failed: `<what>: <strerror>` (like crun's `open `%s``)."""

    def __init__(self, what, errno_, status=1):
        import os
        super().__init__(f"{what}: {os.strerror(errno_)}", status)
        self.errno = errno_
