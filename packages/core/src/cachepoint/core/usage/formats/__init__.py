"""One module per usage format: how each provider (or framework) counts, and how we read it.

Each module turns a payload already converted to plain data (`cachepoint.core.usage.payload.Fields`) into a
`CacheUsage`. The public entry points are in `cachepoint.core.usage.normalize`.
"""
