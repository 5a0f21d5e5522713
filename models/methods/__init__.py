"""One folder per method (train.py --model NAME): see models.method_registry for what a folder holds."""
