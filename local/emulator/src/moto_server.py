"""moto's server, with one speed fix to its SQS clock (run by the emulator launcher).

moto 5.2.5 decides whether each queued message is visible or delayed with
``moto.core.utils.unix_time_millis()``, which builds the Unix epoch and the current time as
``datetime`` objects on every call. ReceiveMessage, SendMessage and the queue's counts ask
every message, so with 500 messages queued each request costs about 0.3 s of date arithmetic
(measured: 10 receive + re-send + delete rounds over 500 messages, 6.1 s before, 0.33 s after).
The replacement returns the same value, milliseconds since the epoch as a float, from
``time.time()``. Nothing else in moto changes.

The pin in tools/requirements-emulator.txt fixes the version this applies to; if moto no
longer has the function, the server refuses to start rather than run unpatched.
"""

import sys
import time

import moto.sqs.models as sqs_models
from moto.core.utils import unix_time
from moto.server import main

if not callable(getattr(sqs_models, "unix_time_millis", None)):
    sys.exit("moto.sqs.models.unix_time_millis is gone: revisit local/emulator/src/moto_server.py")


def unix_time_millis(dt=None):
    if dt is None:
        return time.time() * 1000.0
    return unix_time(dt) * 1000.0


sqs_models.unix_time_millis = unix_time_millis

if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
