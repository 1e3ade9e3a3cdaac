"""MES/ERP connectors: read the enterprise's own exports (drop-folder CSV/Excel, read-only SQL)
into the store, tokenising names on the way in; never write to the enterprise's systems."""
