"""The one compiled part: the protocol parser's loop over deliveries, optional.

Everything else is in pyproject.toml. ``optional=True``: where no C compiler
works, the build says so and goes on, and eventkit reads deliveries with its
Python loop (same frames, slower).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("eventkit.source._protocol_c", ["eventkit/source/_protocol_c.c"],
                             optional=True)])
