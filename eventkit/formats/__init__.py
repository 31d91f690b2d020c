"""Payload formats."""
