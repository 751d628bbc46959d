"""A runtime from outside bakeoff: it serves as bakeoff's `endpoint` runtime does (a server that is
already running), under a name, a display name and a report name of its own."""

from bakeoff.runtimes.endpoint import EndpointRuntime


class ToyRuntime(EndpointRuntime):
    name = "toy"
    display_name = "Toy runtime"
    reported_as = "toy"
