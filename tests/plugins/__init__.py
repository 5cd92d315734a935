"""Plug-ins as a third party would write them (separate modules, no edit to any core module), for the
tests of the evaluation core's extension points."""
