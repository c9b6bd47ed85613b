"""One module per ``lgformer`` subcommand."""
