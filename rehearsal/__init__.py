"""`exitgate rehearse` (CONTRACT section 6): play a whole exit through the real workflows on a
simulated clock. `load_scenario` checks a scenario and lists every problem; `rehearse` runs it
on a time-skipping test server of its own and returns the transcript."""

from .runner import RehearsalFailed, rehearse
from .scenario import LoadedScenario, ScenarioError, load_scenario, load_scenario_doc

__all__ = ["LoadedScenario", "RehearsalFailed", "ScenarioError", "load_scenario", "load_scenario_doc", "rehearse"]
