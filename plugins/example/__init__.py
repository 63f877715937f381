"""hub_example: the worked example connector (docs/writing-a-plugin.md) and the demo's journal."""
