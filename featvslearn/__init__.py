"""featvslearn: hand-engineered features against learned ones, on your data and hardware."""

__version__ = "0.1.0"
