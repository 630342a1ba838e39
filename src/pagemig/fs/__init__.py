"""Filesystems and pseudo-filesystems of the model."""
