"""Aggregator: feeds and saved links in one SQLite database, served by Datasette."""

__version__ = "0.1.0"
USER_AGENT = (
    f"Aggregator/{__version__} (+https://github.com/aggregator-reader/aggregator; feed reader)"
)
