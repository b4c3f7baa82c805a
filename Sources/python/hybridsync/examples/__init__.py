"""Examples of the hybridsync package (`python3 -m hybridsync.examples.wide_deep`)."""
