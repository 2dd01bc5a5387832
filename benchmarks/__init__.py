"""The benchmarks and the paper's reproduction (`benchmarks.paper`): run from a clone of the
repository, beside the results they produce; not part of the keras_ceb wheel."""
