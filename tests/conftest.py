"""Shared test helpers and fixtures for the whole suite."""

pytest_plugins = ["tests.support.db"]
