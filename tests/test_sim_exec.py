"""``kubectl exec`` and cluster DNS on the modelled data plane; the scenarios live in tests/exec_scenarios.py
because tests/test_sim_kernel_traffic.py runs two of them on the kernel's as well."""

from exec_scenarios import *  # collects the scenarios (test_*) and their fixture here
