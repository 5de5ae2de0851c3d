"""platform tests."""
