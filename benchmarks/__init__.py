"""``make bench``: Podium's own cost, measured side by side with a direct call to the same upstream.

Run ``python -m benchmarks.overhead --help``. The modules:

- :mod:`benchmarks.overhead` — the entry point: starts everything, runs the sweep, prints the tables;
- :mod:`benchmarks.upstream` — a fast fake OpenAI-compatible upstream (asyncio Protocol + httptools);
- :mod:`benchmarks.loadgen` — drives non-streaming load: wrk when installed, else an aiohttp client;
- :mod:`benchmarks.stream_probe` — time to the first SSE event and to ``[DONE]``;
- :mod:`benchmarks.procs` — pinned process groups, CPU ticks and RSS from ``/proc``, cleanup;
- :mod:`benchmarks.target` — the Podium under test: its generated config, key and process;
- :mod:`benchmarks.report` — tables, targets and the JSON results file;
- :mod:`benchmarks.profile` — where the gateway's time goes, from a py-spy recording (``--profile``);
- :mod:`benchmarks.shared_harness_config` — a podium.yaml for the independent harness in shared/bench.
"""
