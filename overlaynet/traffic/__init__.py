"""Simulated traffic and what monitoring would see of it: a mix of flows (``mix``) routed by
the tracer with kube-proxy's choices sampled (``simulate``), counted as the kernel and cAdvisor
count (``counters``), exposed to Prometheus (``metrics``)."""

from overlaynet.traffic.mix import Mix, read_mix, read_mix_file
from overlaynet.traffic.simulate import TrafficResult, simulate

__all__ = ["Mix", "TrafficResult", "read_mix", "read_mix_file", "simulate"]
