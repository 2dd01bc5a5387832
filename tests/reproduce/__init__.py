"""Tests of `keras-ceb reproduce` and `keras_ceb.reproduce`."""
