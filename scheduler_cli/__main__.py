"""``python -m scheduler_cli``: the same as the ``scheduler`` command."""

from scheduler_cli.main import main

if __name__ == "__main__":
    main()
