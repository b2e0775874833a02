"""Pruning by distinctiveness: angles between units' activation vectors
(`distinctiveness`) and structural surgery on parameter pytrees (`surgery`)."""
