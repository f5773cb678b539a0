"""The guest side: the agent and the probes that run inside the VM (by its python3).

An island: standard library only, nothing imported from the rest of harness, modules that
import each other relatively. The guest gets this folder as the package /run/nsh/guest and
starts `python3 -m guest.agent` in /run/nsh; the host imports it only for the numbers both
sides share (uapi.py) and to check the op registry (registry.py) against its typed ops.
"""
