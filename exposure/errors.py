"""The exceptions exposure raises on bad input: each message names the file and the reason."""

from __future__ import annotations

from exposure.i18n import _


class ExposureError(Exception):
    """Base class: a problem the user can act on; the CLI prints it as one line."""

    def shown(self) -> str:
        """The message in the language in use, on one line."""
        return " ".join(str(self).split())


class PhotoError(ExposureError):
    """A photo could not be read: names the file and why (truncated, empty, not an image, too big)."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")

    def shown(self) -> str:
        """The reason in the language in use (it is kept in English: build records store it)."""
        reason = _(self.reason)
        return f"{self.source}: {reason}"

    def __reduce__(self):  # picklable, so that it can come back from a worker process
        return type(self), (self.source, self.reason)


class NoFaceError(ExposureError):
    """None of the given photos shows a face that can be used."""


class BadIndexError(ExposureError):
    """An index is missing, damaged, or was built with another model."""


class NoBrowserError(ExposureError):
    """No Chromium-family browser could print the PDF report: the HTML report is there to print instead."""
