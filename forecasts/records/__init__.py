"""Canonical records and how source data becomes them: models, benchmarks, scores (model), name matching
(names, renames), licences, organisations, the canonical CSV/JSON format (canonical), the bundled snapshot
(snapshot) and bounded file reading (reading).
"""
