"""The wire protocol as typed messages, both ways (encode and decode), no I/O.

`common` holds what every API shares (`Word`, `ErrorResponse`, the never-raising
parse machinery); `configure` the Configure control and its answers (PROTOCOL §6,
both APIs); `v1` the `/v1/listen` messages and controls; `v2` the `/v2/listen`
(Flux, PROTOCOL §7) ones.
"""
