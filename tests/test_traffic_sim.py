"""The traffic scenarios on the modelled data plane; they live in tests/traffic_scenarios.py because
tests/test_sim_kernel_traffic.py runs them on the kernel's as well."""

from traffic_scenarios import *  # collects the scenarios (test_*) and their fixture here
