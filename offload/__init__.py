"""Offload's entry point and shared plumbing: the CLI and the local Kafka broker."""
