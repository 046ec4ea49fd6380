"""Beam composite transforms, one concern per module. Logic lives in ``marsad``."""
