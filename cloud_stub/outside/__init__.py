"""Outside data: business registry, administrative penalties, court judgments, tax status and news
sentiment, entering through source adapters (docs/outside-data.md)."""
