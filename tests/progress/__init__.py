"""progress tests."""
