"""deepxc: an ahead-of-time compiler for deep models on embedded devices."""

__version__ = "0.1.0"
