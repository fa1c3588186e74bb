"""`flask` commands, one module per command group."""
