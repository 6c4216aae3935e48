"""Scheduled batch loads of mainframe reference extracts into compacted Kafka topics."""
