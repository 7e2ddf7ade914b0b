"""ember.data: data sets and loaders."""

from . import datasets
