"""SCORE4Climate Programme API."""

__version__ = "0.1.0"
