"""CellFed: shared configuration, the command line and the local service launchers."""
