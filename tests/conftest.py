"""Shared test helpers and fixtures for the whole suite."""
