"""Tests for `keras_ceb.evaluation`."""
