"""Calypso webhook bridge.

A map of the package, for finding one's way (the README draws how the parts talk):

    cli.py          api | worker | sandbox | dev | receive | openapi
    config.py       Settings from the environment (durations, _FILE secrets)
    calypso/        the upstream: models, endpoints, signing, errors, retry, client
    api/            app factory, auth, problem details, one module per resource
    store/          Redis connection, every key name, every Lua script (lua/, scripts.py),
                    lease tokens, idempotency records, the durability check at start
    events/         event model and typed payloads, transition detector, the Redis stream
    views.py        one view each of a customer, purse and transaction (API and events)
    errors.py       BridgeError, with the tree of the bridge's exceptions drawn
    poller/         watch list, schedule and leases (renewed while a poll runs), rate
                    limit, polling loop
    delivery/       subscriptions, signing, SSRF policy, retry policy, queue, replay,
                    dispatcher (claims ahead, sending, settling)
    customers.py    create-or-find customers (externalId lock, idempotency keys), changes
    addresses.py    issuing deposit addresses
    intents.py      an API call's intent, recorded before the Calypso call
    recovery.py     settles intents a crash or an unknown outcome left behind
    heartbeats.py   the worker's loops beat; liveness follows them
    faults.py       test-only fault injection (BRIDGE_FAULT_INJECTION)
    wiring.py       every component built from Settings, for the API and the worker alike
    worker.py       ``bridge worker``: poller and dispatcher together
    probes.py       the worker's health and metrics server; heartbeats.py: its loops' beats
    receiver.py     ``bridge receive``
    metrics.py      Prometheus metrics; observability.py: logging
    sandbox/        the Calypso simulator
"""

__version__ = "0.1.0"
