"""The member node (store, imports, publish API) and the sync protocol both sides share."""
