"""The wire protocol as typed messages, both ways (encode and decode), no I/O.

`common` holds what every API shares (`Word`, `ErrorResponse`, the never-raising
parse machinery); `v1` the `/v1/listen` messages and controls. A `/v2` (Flux,
PROTOCOL §7) module will sit beside `v1` over the same `common`.
"""
