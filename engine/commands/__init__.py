"""Sub-commands of the `engine` command line, one module each (see engine.cli)."""
