"""Flex Template entry point: one incremental marsad batch run.

The template launcher runs ``python main_batch.py --output=gs://... [params]``.
On Dataflow it builds the batch graph and submits it (run dates and the run id
come from the clock, so Cloud Scheduler can post the same body every hour);
with a local runner it is ``marsad run``.
"""

import logging
import sys

from marsad_flex import main_batch

if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    sys.exit(main_batch(sys.argv[1:]))
