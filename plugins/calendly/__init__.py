"""hub_calendly."""
