"""Tests of `keras_ceb.models`."""
