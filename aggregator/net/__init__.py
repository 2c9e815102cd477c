"""The network layer of one fetch, by topic: `policy` (which addresses may be connected to),
`urls` (checking and normalising a URL before it is asked for), `client` (the httpx client on
aiohttp's transport: limits, proxies, TLS, one exchange), `request` (one fetch: redirects,
conditional headers, deadline), `decode` (content codings under the size cap), `headers`
(strict reading of header values) and `schedule` (Retry-After, Cache-Control, Expires and Age
turned into a next check). `aggregator.fetch` re-exports the public names; nothing here parses
feeds or touches the database."""
