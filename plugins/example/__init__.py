"""hub_example."""
