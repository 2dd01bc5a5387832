"""`python -m keras_ceb`: the `keras-ceb` command."""

import sys

from keras_ceb.cli import main

if __name__ == "__main__":
    sys.exit(main())
