"""Sluice: a media gateway for voice agents.

The package is layered; a module imports only from its own folder and from the
layers below it (`tests/unit/test_import_layers.py` checks this):

    clock, audio, flow      sans-I/O foundations: frames, credit, pacing, marks
    observe                 metrics, logs, the event loop's watch
    pipeline                VAD -> STT -> agent -> TTS
    relay                   the ConversationRelay agent socket (agent = "relay")
    voice                   the voices built on the pipeline
    call                    one call: the conversation core, its commands, the pump
    cluster, access         what nodes share (Redis); admission, slots, tokens, limits
    runtime                 one process's settings, shared services and context
    wire                    the seam: all a transport adapter uses of the call
    (transports/)           one package per wire, beside this one
    server                  the FastAPI app, workers, drain, the records API
    testing, compare, cli   synthetic callers, the comparison runner, the command line
"""

__version__ = "0.1.0"
