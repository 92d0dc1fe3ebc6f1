"""Source connectors: one module per source, each turning its published format into `SourceRecord`s."""
