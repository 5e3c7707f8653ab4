"""A moto server that handles one request at a time (werkzeug, threaded=False).

moto's own `moto_server` is threaded, and moto does not isolate concurrent DynamoDB
TransactWriteItems calls from each other: two racing transactions whose conditions read the
same item can both commit, which DynamoDB never allows. Tests of conditional-transaction
races (the registry's approval state machine) run against this server, where requests are
serialized as DynamoDB serializes conflicting transactions. Everything else uses the
threaded server (SQS long polls would block a serial one).

Usage: python3 scripts/moto_serial.py PORT   (listens on 127.0.0.1)
"""

import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    port = int(sys.argv[1])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
