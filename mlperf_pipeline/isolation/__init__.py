"""Process isolation for everything that runs model code: limits, launchers, fork servers, locks.

Below `bench` and `skillsets` in the layering: it imports only the standard library, so that the
benchmark runner, the skillset checks and a future cluster launcher share one implementation.

- `limits`: the child-side set-up (own session, parent-death signal, address-space cap), `kill_group`.
- `launcher`: the `Launcher` interface and its two implementations (a new interpreter, a fork-server child).
- `forkserver`: a server that preloads modules and forks children, and a pool of servers by (variant, slot).
- `calls`: a function called on many items, each call in its own child, a few at a time.
- `locks` and `device`: one flock-based file lock, and the one-benchmark-per-device lock built on it.
"""
