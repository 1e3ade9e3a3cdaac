"""The enterprise's word to its banks: disputes of findings and confirmations of the measures in force,
signed into the gateway's chain so every bank sees them (docs/wire-format.md, "Dispute and
confirmation records")."""
