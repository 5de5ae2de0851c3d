"""operations tests."""
