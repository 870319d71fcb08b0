"""The installed version of the swarm server (one number for every service)."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("swarm-intelligence-server")
except PackageNotFoundError:  # running from a source tree that was not installed
    VERSION = "0.0.0+source"
