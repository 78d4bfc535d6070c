"""``python -m imgprep``: the same as the ``imgprep`` command."""

from imgprep.cli import main

if __name__ == "__main__":
    main()
