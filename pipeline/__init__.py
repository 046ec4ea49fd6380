"""Pipeline assembly, options and the ``marsad`` command line."""
