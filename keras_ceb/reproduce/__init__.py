"""`keras-ceb reproduce EXPERIMENT`: the paper's experiments, one module per experiment."""
