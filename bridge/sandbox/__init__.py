"""A faithful simulator of Calypso's Customer Purse API, for tests, demos and benchmarks.

``app`` builds the application; ``upstream`` answers the ten Calypso endpoints (envelope,
``Sign``, timestamp window, Calypso's error document); ``controls`` adds the ``/sandbox``
endpoints that play the chain and Calypso's back office. ``state`` is the in-memory store,
``records`` what it holds, ``lifecycle`` how a deposit moves, ``search`` what
``transaction/find`` does, ``addresses`` the per-network formats, ``faults`` the injected
misbehaviour and request counters, ``requestlog`` which customer each request was about.
``purse_events`` says which changes Calypso announces and how its webhooks read;
``webhooks`` sends them and ``webhook_controls`` subscribes a receiver. It shares only
``calypso.models``, ``calypso.endpoints`` and ``calypso.signing`` with the bridge.
"""
