"""hub_gsheets."""
