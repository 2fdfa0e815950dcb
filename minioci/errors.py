"""The errors minioci reports: one line, saying what failed and where."""


def strerror(errno_):
    """The C library's text for an errno, worded as runc (Go) prints it:
    lower case, "no such file or directory".  Engines read these words: the
    docker CLI exits 127 for `no such file or directory` and 126 for
    `permission denied` in a runtime's message, case-sensitively."""
    import os
    if errno_ is None:
        return "unknown error"
    text = os.strerror(errno_)
    if len(text) > 1 and not text[1].isupper():     # not an acronym ("RFS specific error")
        text = text[0].lower() + text[1:]
    return text


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
        self.errno = None               # of the write that failed, where one did (cgroups.resources)


class SysError(MiniociError):
    """A system call failed: `<what>: <strerror>` (like crun's `open `%s``)."""

    def __init__(self, what, errno_, status=1):
        super().__init__(f"{what}: {strerror(errno_)}", status)
        self.errno = errno_
