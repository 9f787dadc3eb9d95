"""The command line, ``python -m analytics`` (``main``), and its ``users`` commands (``users``)."""
