"""``python -m broadcaster`` is the ``broadcaster`` command."""

from broadcaster.cli import main

main()
