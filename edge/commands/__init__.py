"""One module per CLI verb. Each exposes `add_parser(subparsers)`, which registers the verb and
sets `func` (a callable taking the parsed args and returning the exit code) as its default."""
