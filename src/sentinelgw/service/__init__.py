"""The Sentinel credential service."""
