"""Entry point of a tag-parser process: `python -m app.services.tags_worker MEMORY_BYTES`."""

import sys

from app.services.tags import worker_main

if __name__ == "__main__":
    worker_main(int(sys.argv[1]) if len(sys.argv) > 1 else 1024 * 1024 * 1024)
