"""Change data capture from the system of record into Kafka."""
