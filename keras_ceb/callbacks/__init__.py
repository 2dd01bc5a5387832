"""Keras callbacks: rho schedules and evaluation during training."""

from keras_ceb.callbacks.rho_scheduler import RhoScheduler
from keras_ceb.callbacks.rho_scheduler import exponential_anneal
from keras_ceb.callbacks.rho_scheduler import linear_anneal
