"""The `gapcast` command line: the composition root, the one package that imports `service`, `jobs` and
`forecasts` together (they keep service -> forecasts <- jobs among themselves)."""
