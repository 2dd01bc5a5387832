"""`python -m benchmarks.paper <dataset> [--preset ...]`: the paper's reproduction (a clone)."""

from keras_ceb import console

console.quiet_frameworks(tensorflow=True)  # before the reproduction's modules import Keras

from benchmarks.paper.command import main  # noqa: E402

if __name__ == "__main__":
    main()
