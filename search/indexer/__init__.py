"""The indexer service: node feeds in, engine documents out.

sync (one node's feed into the index), daemon (a loop per node), app (pokes and health over
HTTP), rebuild and audit (whole-index work), documents and derived (record → search document).
"""
