"""Tests of tokensources.otel, with the real OpenTelemetry SDK and its in-memory readers."""
