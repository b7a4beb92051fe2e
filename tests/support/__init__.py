"""Helpers for the tests, kept apart from the test modules: launchers, runners, builders."""
