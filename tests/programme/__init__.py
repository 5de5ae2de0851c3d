"""programme tests."""
