"""Access requests between alliance members: what the portal and the nodes share."""
