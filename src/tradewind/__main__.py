"""``python -m tradewind`` is the ``tradewind`` command."""

from tradewind.cli.main import main

main()
