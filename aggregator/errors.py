"""One error hierarchy. Every error carries the URL (or path) it is about, when there is one.

AggregatorError
 ├── FetchError            network or HTTP failure of one fetch
 │    ├── BlockedAddressError   address policy refused the target
 │    ├── TooLargeError         body over the cap (after decompression)
 │    └── HTTPStatusError       a non-2xx/304 answer (status attribute)
 ├── ParseError            the bytes are not a readable feed
 │    └── NotAFeedError         HTML, empty, binary ... (may carry discovered feed links)
 ├── ImportFormatError     an import file that cannot be read as a whole
 ├── DatabaseError         the database cannot be opened, written or is corrupt
 └── LockedError           another writer holds the lock
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Base class. `str(error)` is a one-line message fit for a user."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url

    def __str__(self) -> str:
        return self.message


class FetchError(AggregatorError):
    pass


class BlockedAddressError(FetchError):
    pass


class TooLargeError(FetchError):
    pass


class HTTPStatusError(FetchError):
    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.status = status
        self.retry_after = retry_after


class ParseError(AggregatorError):
    pass


class NotAFeedError(ParseError):
    def __init__(
        self, message: str, *, url: str | None = None, feed_links: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, url=url)
        self.feed_links = feed_links


class ImportFormatError(AggregatorError):
    pass


class DatabaseError(AggregatorError):
    pass


class LockedError(AggregatorError):
    pass
