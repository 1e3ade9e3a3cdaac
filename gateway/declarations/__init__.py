"""Declared events: planned downtime, maintenance, stocktakes and holidays the enterprise
declares on site, signed into the gateway's chain so the bank sees every one (docs/wire-format.md)."""
