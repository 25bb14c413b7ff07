"""The edge: the only code that imports database and broker drivers.

Each adapter needs its own optional extra (``pip install "relaybox[postgres]"``)
and fails at import with an install hint when the driver is missing.
"""
