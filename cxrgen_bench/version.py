"""The package's version, on the ground floor: results files record it, and the modules that write them
sit below the package's own `__init__` (which imports the runner)."""
__version__ = "0.1.0"
