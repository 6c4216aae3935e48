"""What every part of the gateway needs: error classes, Kafka clients and topics, SQL files."""
