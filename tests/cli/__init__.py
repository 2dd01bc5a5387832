"""Tests of the `keras-ceb` command and `keras_ceb.reporting`."""
