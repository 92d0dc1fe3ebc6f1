"""Redis: the store and its atomic generations (store, ingest), key names and types (keys), connections,
the embedded server, URLs and replication checks.
"""
