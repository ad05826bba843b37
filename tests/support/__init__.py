"""What the test suites share, so that a scenario is written once.

- ``config``: the test account, its settings, a direct Calypso client, bridge process envs.
- ``steps``: what a scenario does (subscribe, deposit, advance, poll now...).
- ``reading``: what the bridge wrote (stream events, the fan-out's progress, webhooks).
- ``hints``: Calypso's own webhooks to the bridge.
- ``receiver``: the one webhook receiver; ``waiting``: wait on observable state, never sleep.
- ``workers``: workers built and closed for a test; ``processes``: ``bridge`` processes.
- ``redis_modes``, ``redis_server``, ``redis_cluster``, ``restartable_redis``: real Redis.
- ``sandbox_server``: any ASGI app on a socket; ``fleet``, ``chaos``: many-customer runs.
"""
