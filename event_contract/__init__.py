"""The event contract between capture, projections, the reference loader and the simulator.

The table catalog with exact Db2 types, row changes and units of work, the Db2 → Avro type
mapping, the Debezium-style envelope, the Confluent-wire codec and the schema stores.
"""
