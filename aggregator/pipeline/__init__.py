"""The pipeline's stages (refresh, subscribe, pages, imports, sample), the limits and worker
processes they share, and the boundary around each item; `aggregator.service` is their facade."""
