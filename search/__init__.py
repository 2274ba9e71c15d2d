"""The search side: engine layer, versioned mappings, index lifecycle, indexer and queries."""
