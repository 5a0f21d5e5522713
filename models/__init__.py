"""The methods (models/methods/<name>/, registered in models.method_registry), their networks, the synthesis API and
the evaluation segmenters. Importing the package registers every method folder and the networks it declares."""
from .method_registry import discover

discover()
