"""The simulated mainframe: a Db2 system of record with capture tables, and its workload."""
