"""Consent at the edge: which indicator categories may leave, to which receiver, until when,
and a hash-chained local audit log of everything that left (see docs/privacy-consent.md)."""
