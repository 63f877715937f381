"""Privacy: erasure across tools with receipts, tombstones, export of what the hub holds on a person."""
