"""Gap maths: frontiers, score gap and lag per benchmark (gaps, ratings), domain aggregates (domains),
the public / held-out split (robustness), filtered views, published-figure checks (figures) and the derived
series a generation stores (compute). Pure functions over canonical records.
"""
