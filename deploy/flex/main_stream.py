"""Flex Template entry point: the marsad streaming job (PeriodicImpulse, keyed state).

The template launcher runs ``python main_stream.py --output=gs://... [params]``.
On Dataflow it builds the streaming graph and submits it (streaming is switched
on); with a local runner it is ``marsad stream`` (which needs --max_polls).
"""

import logging
import sys

from marsad_flex import main_stream

if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    sys.exit(main_stream(sys.argv[1:]))
