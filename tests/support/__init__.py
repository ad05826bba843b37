"""Helpers the test suites share: real servers in background threads."""
