"""Emulators: every driver has one so the real protocol stack runs in tests and the demo."""
