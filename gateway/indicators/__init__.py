"""Indicators: plain functions of a closed window, registered by name (see base.py)."""
