"""Preparing competitions: sources, seeded splits, the checksummed on-disk cache."""

from mledojo.data.prepare import PreparedData, cache_root, prepare

__all__ = ["PreparedData", "cache_root", "prepare"]
