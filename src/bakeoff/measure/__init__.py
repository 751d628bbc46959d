"""Measuring: the streaming chat client (timings per request) and the memory and CPU sampler.

Measures and returns figures; never decides whether they are good, never stores or shows them.
"""
