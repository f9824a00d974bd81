"""`python -m tunesmith.train CONFIG ...`: the entry point torchrun launches on every process.

It is the `tunesmith train` command itself, so both paths share one argument parser.
"""

import sys

from tunesmith.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
