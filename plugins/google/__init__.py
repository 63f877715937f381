"""hub_google."""
