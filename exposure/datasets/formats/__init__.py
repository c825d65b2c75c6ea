"""Readers of published dataset layouts: each module has FORMAT, detect(path) and open(path) -> Source."""
