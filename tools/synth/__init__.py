"""Offline synth: run the real program under mocks and write what it would create."""

from tools.synth.engine import Registration, Synthesis, run, run_main
from tools.synth.stack import PROJECT_DIR, synth_stack

__all__ = ["PROJECT_DIR", "Registration", "Synthesis", "run", "run_main", "synth_stack"]
