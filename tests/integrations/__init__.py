"""Tests of the other HTTP clients: requests and aiohttp."""
