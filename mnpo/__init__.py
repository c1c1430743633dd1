"""mnpo: a reproducible benchmark for weakly supervised object localization around MNPO / MNPOs."""

__version__ = "0.1.0"
