"""The `inttower` command line: one entry point over the training, export and serving packages."""
