"""Uplink: pack indicators into signed batches (batcher), send them until acknowledged (sender)."""
