"""The `deepxc` command line."""
