"""A test user script that waits for SIGTERM, records it and stops."""

import os
import signal
import sys
import time
from pathlib import Path

output = Path(os.environ["SM_OUTPUT_DATA_DIR"])


def stop(signum, frame):
    (output / "sigterm.txt").write_text("received")
    sys.exit(3)


signal.signal(signal.SIGTERM, stop)
(output / "ready.txt").write_text("ready")
time.sleep(60)
