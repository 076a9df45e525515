"""Transport adapters: each translates one wire to and from the shared call.

A package imports the call only through the seam, `gateway.wire`, plus the
shared libraries below the call (`gateway.audio`, `gateway.flow`,
`gateway.observe`) and the process's services (`gateway.access`,
`gateway.cluster`, `gateway.runtime`). `gateway.server` mounts the packages;
nothing below the server imports a transport."""
