"""The process around the calls: the FastAPI app that mounts each transport
package, worker processes, drain on SIGTERM, exposure checks and the call
records API. Imports `transports` and everything in the gateway below it."""
